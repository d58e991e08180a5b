// Graph rewrite passes run between building a forward graph and executing it: the place where fusion,
// quantized linear layers and user layer rules plug in. A pass edits the graph in place and must keep its
// outputs and side effects (nodes writing bound state) intact.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace autoglm {

class GraphPass {
 public:
  virtual ~GraphPass() = default;
  virtual std::string name() const = 0;
  virtual Status run(Graph& graph) = 0;
};

class PassManager {
 public:
  void add(std::unique_ptr<GraphPass> pass) { passes_.push_back(std::move(pass)); }
  Status run(Graph& graph) const;
  size_t size() const { return passes_.size(); }

 private:
  std::vector<std::unique_ptr<GraphPass>> passes_;
};

// Removes nodes whose results reach neither a graph output nor bound state (e.g. the hidden states of the
// positions whose logits nobody asked for, when a builder emits them).
class DeadNodeElimination final : public GraphPass {
 public:
  std::string name() const override { return "dead-node-elimination"; }
  Status run(Graph& graph) override;
};

}  // namespace autoglm
