#include "weights.h"

#include <charconv>
#include <regex>
#include <set>
#include <stdexcept>

#include "safetensors.h"

namespace radbert {

std::string shape_str(c10::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

NamedTensors hf_parameters(ModernBert& m) {
  NamedTensors out;
  const bool bare = m->config.architecture == Architecture::Bare;
  for (const auto& item : m->named_parameters(true)) {
    std::string key = item.key();
    if (key.rfind("task.", 0) == 0) key = key.substr(5);  // the task head's tensors have no prefix in HF
    else if (bare && key.rfind("model.", 0) == 0) key = key.substr(6);
    out.emplace_back(key, item.value());
  }
  return out;
}

std::vector<bool> weight_decay_flags(ModernBert& m, const NamedTensors& params) {
  std::set<const void*> in_norm;  // parameters owned by a LayerNorm module (HF's ALL_LAYERNORM_LAYERS test)
  for (const auto& mod : m->modules(/*include_self=*/true))
    if (dynamic_cast<const LayerNormImpl*>(mod.get()))
      for (const auto& p : mod->parameters(/*recurse=*/false)) in_norm.insert(p.unsafeGetTensorImpl());
  std::vector<bool> out;
  for (const auto& [name, p] : params) out.push_back(hf_weight_decay(name, in_norm.count(p.unsafeGetTensorImpl()) > 0));
  return out;
}

void check_config_against_weights(const Config& c, const std::vector<std::string>& files, const std::string& config_file) {
  std::vector<SafetensorsHeader> headers;
  for (const auto& f : files) headers.push_back(read_header(f));
  auto refuse = [&](const char* key, int64_t value, const SafetensorsHeader& h, const std::string& holds) {
    throw std::invalid_argument(config_file + ": key \"" + key + "\" is " + std::to_string(value) + " but " + h.file + holds);
  };
  // One size of the config against one dimension of a tensor: (config key, its value, the dimension it implies).
  struct Dim {
    const char* key;
    int64_t value, expected;
  };
  // The tensor under any of `names` in any file, when present with dims.size() dimensions, must have those sizes.
  auto check = [&](std::initializer_list<std::string> names, std::initializer_list<Dim> dims, const char* note = "") {
    for (const auto& h : headers)
      for (const auto& name : names) {
        auto it = h.tensors.find(name);
        if (it == h.tensors.end() || it->second.shape.size() != dims.size()) continue;
        size_t d = 0;
        for (const auto& dim : dims)
          if (it->second.shape[d++] != dim.expected)
            refuse(dim.key, dim.value, h, ": tensor \"" + name + "\" has shape " + shape_str(it->second.shape) + note);
        return;
      }
  };
  check({"model.embeddings.tok_embeddings.weight", "embeddings.tok_embeddings.weight"},
        {{"vocab_size", c.vocab_size, c.vocab_size}, {"hidden_size", c.hidden_size, c.hidden_size}});
  check({"model.layers.0.mlp.Wi.weight", "layers.0.mlp.Wi.weight"},
        {{"intermediate_size", c.intermediate_size, 2 * c.intermediate_size}, {"hidden_size", c.hidden_size, c.hidden_size}});
  if (c.architecture == Architecture::SequenceClassification)
    check({"classifier.weight"}, {{"num_labels", c.num_labels, c.num_labels}, {"hidden_size", c.hidden_size, c.hidden_size}},
          " (num_labels comes from id2label when present)");
  static const std::regex layer_key(R"(^(?:model\.)?layers\.(\d+)\.)");
  int64_t layers = 0;
  const SafetensorsHeader* where = nullptr;
  for (const auto& h : headers)
    for (const auto& [key, e] : h.tensors) {
      std::smatch m;
      if (std::regex_search(key, m, layer_key)) {
        const int64_t i = std::stoll(m[1].str().substr(0, 9));  // at most 9 digits: no overflow
        if (i + 1 > layers) layers = i + 1, where = &h;
      }
    }
  if (where && layers != c.num_hidden_layers)
    refuse("num_hidden_layers", c.num_hidden_layers, *where,
           files.size() == 1 ? " holds layers 0.." + std::to_string(layers - 1)
                             : " (with the other weight files) holds layers 0.." + std::to_string(layers - 1));
}

LoadReport load_weights(ModelState& s, const std::vector<std::string>& files, const std::set<std::string>& skip) {
  const auto& cfg = s.module->config;
  LoadReport report;
  // Pass 1: read every header and check every shape before touching the model (an error changes nothing).
  struct Plan {
    size_t file;
    std::string key, param;
  };
  std::vector<SafetensorsHeader> headers;
  std::vector<Plan> plan;
  std::set<std::string> seen;
  for (size_t f = 0; f < files.size(); ++f) {
    headers.push_back(read_header(files[f]));
    for (const auto& [key, entry] : headers.back().tensors) {
      std::string target;
      for (const auto& cand : {key, "model." + key, key.rfind("model.", 0) == 0 ? key.substr(6) : std::string()}) {
        if (!cand.empty() && s.by_name.count(cand)) {
          target = cand;
          break;
        }
      }
      if (target.empty()) {
        const bool tied = key == "decoder.weight" && cfg.architecture == Architecture::MaskedLM && cfg.tie_word_embeddings;
        if (!tied) report.unexpected.push_back(key);
        continue;
      }
      if (skip.count(target)) continue;  // left as initialised; listed in report.missing
      const auto& p = s.by_name.at(target);
      if (c10::IntArrayRef(entry.shape) != p.sizes())
        throw std::runtime_error(files[f] + ": tensor \"" + key + "\" has shape " + shape_str(entry.shape) +
                                 " but the model (from config.json) expects " + shape_str(p.sizes()));
      if (seen.count(target)) throw std::runtime_error(files[f] + ": tensor \"" + key + "\" appears in more than one file");
      float_dtype(headers.back(), key);  // a non-float dtype fails here, before any data is read
      seen.insert(target);
      plan.push_back({f, key, target});
    }
  }
  // Pass 2: read each tensor straight into its parameter (no second copy of the model in memory).
  weights_changed();  // the parameters change: cached bf16 casts are stale
  for (const auto& item : plan) {
    auto& dst = s.by_name.at(item.param);
    read_tensor_into(headers[item.file], item.key, dst);
    report.loaded.push_back(item.param);
  }
  for (const auto& [name, p] : s.params)
    if (!seen.count(name)) report.missing.push_back(name);
  return report;
}

void save_weights(ModelState& s, const std::string& file, const std::string& what,
                  const std::map<std::string, std::string>& metadata) {
  NamedTensors out;
  for (const auto& [name, p] : s.params) {
    if (what == "params") out.emplace_back(name, p);
    else out.emplace_back(name, p.grad().defined() ? p.grad() : torch::zeros_like(p));
  }
  write_safetensors(file, out, metadata);
}

void save_optimizer(ModelState& s, const std::string& file) {
  NamedTensors out;
  for (const auto& [name, m] : s.optim.moments) {
    out.emplace_back("exp_avg." + name, m.first);
    out.emplace_back("exp_avg_sq." + name, m.second);
  }
  write_safetensors(file, out, {{"format", "radbert-adamw"}, {"step", std::to_string(s.optim.step)}});
}

void load_optimizer(ModelState& s, const std::string& file) {
  auto h = read_header(file);
  auto step_it = h.metadata.find("step");
  if (step_it == h.metadata.end()) throw std::runtime_error(file + ": not an optimizer state (no \"step\" in metadata)");
  AdamWState st;
  const std::string& step = step_it->second;
  const auto [end, ec] = std::from_chars(step.data(), step.data() + step.size(), st.step);
  if (ec != std::errc() || end != step.data() + step.size() || step.empty() || st.step < 0)
    throw std::runtime_error(file + ": metadata \"step\" is \"" + step + "\", not a non-negative integer");
  for (const auto& [key, entry] : h.tensors) {
    const bool avg = key.rfind("exp_avg.", 0) == 0, sq = key.rfind("exp_avg_sq.", 0) == 0;
    if (!avg && !sq) throw std::runtime_error(file + ": unexpected tensor \"" + key + "\" in optimizer state");
    const std::string name = key.substr(avg ? 8 : 11);
    auto p = s.by_name.find(name);
    if (p == s.by_name.end()) throw std::runtime_error(file + ": tensor \"" + key + "\" names no parameter of this model");
    if (c10::IntArrayRef(entry.shape) != p->second.sizes())
      throw std::runtime_error(file + ": tensor \"" + key + "\" has shape " + shape_str(entry.shape) +
                               ", the parameter has " + shape_str(p->second.sizes()));
    auto t = read_tensor(h, key).to(s.device);
    auto& slot = st.moments[name];
    (avg ? slot.first : slot.second) = t;
  }
  for (const auto& [name, m] : st.moments)
    if (!m.first.defined() || !m.second.defined())
      throw std::runtime_error(file + ": parameter \"" + name + "\" lacks exp_avg or exp_avg_sq");
  s.optim = std::move(st);
}

}  // namespace radbert
