// Downloads one file into the cache's blobs/ folder: resumable, retried, checked, and published atomically.
//
// The bytes go to {blob}.incomplete. A leftover from an earlier run is resumed with "Range: bytes=N-" (a
// server that answers 200 instead of 206 restarts it from zero); a connection cut mid-file is retried with a
// growing pause, resuming each time. The finished file is checked against the expected size and, for LFS
// files, the SHA-256 (hashed while streaming, the resumed prefix included); a mismatch deletes it, since
// resuming a corrupted file can only reproduce the mismatch. Only a checked file is renamed to its blob name.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "hub/http_client.h"

namespace autoglm::hub {

struct BlobDownload {
  std::string url;
  std::vector<std::string> headers;
  std::string blob_path;
  std::string display_name;     // the repo's file name, for messages and the progress bar
  std::string expected_sha256;  // lower-case hex; empty: not checked
  int64_t expected_size = -1;   // -1: not checked
  bool progress = false;
  // Turns a non-2xx answer into the Status to return (the hub's errors read differently from a CDN's).
  std::function<Status(const HttpResponse&)> http_error;
  // Attempts in a row that bring no new byte before giving up; the pause between them doubles from
  // `first_pause_ms`. An attempt that makes progress resets the count, so a long download over a flaky link
  // is not abandoned for being cut more than a few times.
  int max_attempts = 5;
  int first_pause_ms = 500;
};

// The caller holds the blob's lock. kParseError for a checksum or size mismatch, kIoError for network
// failures that outlasted the retries, server errors and disk errors.
Status download_blob(HttpClient& http, const BlobDownload& d);

}  // namespace autoglm::hub
