// Typed inputs with a dynamic axis: the item layout, half-precision conversion, padded batch
// assembly (dynamic axis first and in the middle, every element type), same-length queues,
// and the engine end to end with a recording fake runner (layout and padding of every batch,
// same-length batches for a model that is not pad-invariant, failure isolation).
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/batch_assembly.h"
#include "engine/engine.h"
#include "engine/input_layout.h"
#include "engine/stage_queue.h"
#include "test_fakes.h"
#include "test_harness.h"

using namespace cascadeserve;

namespace {

InputLayout Compiled(TensorElement type, std::vector<int64_t> dims, double pad) {
  ItemLayout layout;
  Status st = CompileItemLayout({InputSpec{"x", type, std::move(dims), pad}}, &layout);
  CHECK(st.ok());
  return layout.inputs[0];
}

template <typename T>
T Read(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

TEST(HalfConversionKnownValuesAndRoundTrip) {
  CHECK_EQ(FloatToHalfBits(1.0f), 0x3C00);
  CHECK_EQ(FloatToHalfBits(-2.0f), 0xC000);
  CHECK_EQ(FloatToHalfBits(1.5f), 0x3E00);
  CHECK_EQ(FloatToHalfBits(0.1f), 0x2E66);         // 0.0999755859375, nearest
  CHECK_EQ(FloatToHalfBits(65504.0f), 0x7BFF);     // largest finite
  CHECK_EQ(FloatToHalfBits(65520.0f), 0x7C00);     // halfway to the next: rounds to even = infinity
  CHECK_EQ(FloatToHalfBits(5.9604645e-8f), 0x0001);  // 2^-24, smallest subnormal
  CHECK_EQ(FloatToHalfBits(2.0e-8f), 0x0000);
  CHECK_EQ(FloatToHalfBits(-0.0f), 0x8000);
  CHECK_EQ(FloatToHalfBits(1.0f + 1.0f / 2048), 0x3C00);  // tie: to even
  CHECK_EQ(FloatToHalfBits(1.0f + 3.0f / 2048), 0x3C02);  // tie: to even (up)
  CHECK_EQ(HalfBitsToFloat(0x3C00), 1.0f);
  CHECK_EQ(HalfBitsToFloat(0x0001), 5.9604645e-8f);
  CHECK_EQ(HalfBitsToFloat(0x03FF), 6.09755516e-5f);  // largest subnormal
  CHECK(std::isinf(HalfBitsToFloat(0xFC00)) && HalfBitsToFloat(0xFC00) < 0);
  CHECK(std::isnan(HalfBitsToFloat(0x7E00)));
  // Every finite half survives half -> float -> half.
  int mismatches = 0;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00) continue;
    if (FloatToHalfBits(HalfBitsToFloat(static_cast<uint16_t>(h))) != h) ++mismatches;
  }
  CHECK_EQ(mismatches, 0);
}

TEST(ItemLayoutOffsetsAndErrors) {
  ItemLayout layout;
  CHECK(CompileItemLayout({InputSpec{"a", TensorElement::kInt64, {2, -1, 2}, 0}, InputSpec{"b", TensorElement::kBool, {3, -1}, 1},
                           InputSpec{"c", TensorElement::kFloat16, {2}, 0}},
                          &layout)
            .ok());
  CHECK(layout.dynamic);
  CHECK_EQ(layout.inputs[0].dynamic_axis, 1);
  CHECK_EQ(layout.inputs[0].outer, 2);
  CHECK_EQ(layout.inputs[0].inner, 2);
  CHECK_EQ(layout.inputs[1].outer, 3);
  CHECK_EQ(layout.inputs[1].inner, 1);
  CHECK_EQ(layout.inputs[1].dynamic_axis, 1);
  CHECK_EQ(layout.ItemBytes(5), static_cast<size_t>(2 * 5 * 2 * 8 + 3 * 5 + 2 * 2));
  CHECK_EQ(layout.InputOffset(2, 5), static_cast<size_t>(2 * 5 * 2 * 8 + 3 * 5));
  CHECK(layout.inputs[0].pad_is_zero);
  CHECK(!layout.inputs[1].pad_is_zero);
  ItemLayout bad;
  Status two = CompileItemLayout({InputSpec{"a", TensorElement::kInt64, {-1, -1}, 0}}, &bad);
  CHECK(!two.ok() && two.message().find("inputs[0].item_dims[1]") != std::string::npos);
  Status axes = CompileItemLayout({InputSpec{"a", TensorElement::kInt64, {-1, 2}, 0}, InputSpec{"b", TensorElement::kInt64, {2, -1}, 0}}, &bad);
  CHECK(!axes.ok() && axes.message().find("inputs[1].item_dims: dynamic axis 1") != std::string::npos);
  Status zero = CompileItemLayout({InputSpec{"a", TensorElement::kUint8, {0}, 0}}, &bad);
  CHECK(!zero.ok() && zero.message().find("inputs[0].item_dims[0]") != std::string::npos);
  Status type = CompileItemLayout({InputSpec{"a", static_cast<TensorElement>(3), {2}, 0}}, &bad);
  CHECK(!type.ok() && type.message().find("inputs[0].type") != std::string::npos);
}

// dims [2, -1, 3] (dynamic axis in the middle), INT32, pad -7: every element of the batch
// against the index formula.
TEST(GatherPaddedDynamicAxisInTheMiddle) {
  const InputLayout input = Compiled(TensorElement::kInt32, {2, -1, 3}, -7);
  const std::vector<int32_t> lengths = {1, 3, 2};
  const int32_t batch_length = 3;
  std::vector<std::vector<int32_t>> items;
  for (size_t r = 0; r < lengths.size(); ++r) {
    std::vector<int32_t> item(static_cast<size_t>(2 * lengths[r] * 3));
    for (size_t e = 0; e < item.size(); ++e) item[e] = static_cast<int32_t>(1000 * r + e);
    items.push_back(item);
  }
  std::vector<const uint8_t*> pointers;
  for (auto& item : items) pointers.push_back(reinterpret_cast<const uint8_t*>(item.data()));
  std::vector<int32_t> dst(lengths.size() * 2 * batch_length * 3, 12345);
  GatherPadded(input, pointers.data(), lengths.data(), 3, batch_length, reinterpret_cast<uint8_t*>(dst.data()));
  int wrong = 0;
  for (size_t r = 0; r < lengths.size(); ++r) {
    for (int o = 0; o < 2; ++o) {
      for (int p = 0; p < batch_length; ++p) {
        for (int i = 0; i < 3; ++i) {
          const int32_t got = dst[((r * 2 + o) * batch_length + p) * 3 + i];
          const int32_t want = p < lengths[r] ? items[r][(o * lengths[r] + p) * 3 + i] : -7;
          if (got != want) ++wrong;
        }
      }
    }
  }
  CHECK_EQ(wrong, 0);
}

// Every element type, dynamic axis first ([-1, 2]): own values kept, the pad value written in
// the input's type (bytes compared with the type's own encoding).
TEST(GatherPaddedEveryElementType) {
  struct Case {
    TensorElement type;
    double pad;
    std::vector<uint8_t> pad_bytes;
  };
  auto bytes_of = [](auto v) {
    std::vector<uint8_t> b(sizeof v);
    std::memcpy(b.data(), &v, sizeof v);
    return b;
  };
  const std::vector<Case> cases = {
      {TensorElement::kFloat32, 0.25, bytes_of(0.25f)},
      {TensorElement::kFloat16, 1.5, bytes_of(static_cast<uint16_t>(0x3E00))},
      {TensorElement::kInt64, -1, bytes_of(static_cast<int64_t>(-1))},
      {TensorElement::kInt32, 123456, bytes_of(static_cast<int32_t>(123456))},
      {TensorElement::kUint8, 255, bytes_of(static_cast<uint8_t>(255))},
      {TensorElement::kBool, 1, bytes_of(static_cast<uint8_t>(1))},
      {TensorElement::kInt64, 0, bytes_of(static_cast<int64_t>(0))},
  };
  for (const Case& c : cases) {
    const InputLayout input = Compiled(c.type, {-1, 2}, c.pad);
    const size_t eb = input.elem_bytes;
    CHECK_EQ(eb, c.pad_bytes.size());
    const std::vector<int32_t> lengths = {2, 4};
    std::vector<std::vector<uint8_t>> items;
    for (size_t r = 0; r < lengths.size(); ++r) {
      std::vector<uint8_t> item(lengths[r] * 2 * eb);
      for (size_t b = 0; b < item.size(); ++b) item[b] = static_cast<uint8_t>(7 + r * 50 + b % 40);
      items.push_back(item);
    }
    const uint8_t* pointers[2] = {items[0].data(), items[1].data()};
    std::vector<uint8_t> dst(2 * 4 * 2 * eb, 0xAB);
    GatherPadded(input, pointers, lengths.data(), 2, 4, dst.data());
    int wrong = 0;
    for (size_t r = 0; r < 2; ++r) {
      for (size_t e = 0; e < 8; ++e) {  // 4 positions x 2
        const uint8_t* got = dst.data() + (r * 8 + e) * eb;
        const bool own = e / 2 < static_cast<size_t>(lengths[r]);
        const uint8_t* want = own ? items[r].data() + e * eb : c.pad_bytes.data();
        if (std::memcmp(got, want, eb) != 0) ++wrong;
      }
    }
    CHECK_EQ(wrong, 0);
  }
}

TEST(StageQueueSameLengthPopKeepsOrder) {
  StageQueue queue(100);
  const std::vector<int32_t> lengths = {3, 1, 3, 2, 1, 3};
  for (size_t i = 0; i < lengths.size(); ++i) {
    auto r = std::make_unique<Request>();
    r->ticket = i;
    r->length = lengths[i];
    r->priority = i == 4 ? 2 : 1;  // one request on a lower priority level
    queue.Push(std::move(r));
  }
  CHECK_EQ(queue.CountWithLength(3, 100), 3);
  CHECK_EQ(queue.CountWithLength(3, 2), 2);
  CHECK_EQ(queue.CountWithLength(1, 100), 2);
  std::vector<RequestPtr> out;
  queue.PopBatchWithLength(3, 2, &out);
  CHECK_EQ(out.size(), 2u);
  CHECK_EQ(out[0]->ticket, 0u);
  CHECK_EQ(out[1]->ticket, 2u);
  CHECK_EQ(queue.size(), 4);
  out.clear();
  queue.PopBatchWithLength(1, 8, &out);  // across priority levels, in service order
  CHECK_EQ(out.size(), 2u);
  CHECK_EQ(out[0]->ticket, 1u);
  CHECK_EQ(out[1]->ticket, 4u);
  out.clear();
  queue.PopBatch(8, &out);  // the rest kept their order
  CHECK_EQ(out.size(), 2u);
  CHECK_EQ(out[0]->ticket, 3u);
  CHECK_EQ(out[1]->ticket, 5u);
  CHECK(queue.empty());
}

namespace {

// Three inputs: ids INT64 [2, -1, 2] (dynamic axis in the middle, pad 0), flags BOOL [3, -1]
// (dynamic axis last, pad 1), scale FP16 [2] (no dynamic axis).
std::vector<InputSpec> TokenSpecs() {
  return {InputSpec{"ids", TensorElement::kInt64, {2, -1, 2}, 0}, InputSpec{"flags", TensorElement::kBool, {3, -1}, 1},
          InputSpec{"scale", TensorElement::kFloat16, {2}, 0}};
}
constexpr int64_t kFailId = 777;

struct RecordedBatch {
  int64_t rows = 0;
  std::vector<std::vector<int64_t>> dims;
  std::vector<std::vector<uint8_t>> bytes;
};

struct TypedLog {
  std::mutex mu;
  std::vector<RecordedBatch> batches;
  int64_t max_length = INT64_MAX;  // a run longer than this fails (a model's position table)

  // Copies what a runner was given.
  void Record(const BatchTensor* inputs, int input_count, int64_t rows) {
    RecordedBatch batch;
    batch.rows = rows;
    for (int k = 0; k < input_count; ++k) {
      batch.dims.emplace_back(inputs[k].dims, inputs[k].dims + inputs[k].rank);
      const uint8_t* p = static_cast<const uint8_t*>(inputs[k].data);
      batch.bytes.emplace_back(p, p + inputs[k].byte_length);
    }
    std::lock_guard<std::mutex> lock(mu);
    batches.push_back(std::move(batch));
  }
};

// Records each batch; out[0] = sum of ids / 100, out[1] = number of true flags (padding
// included: a pad-sensitive "model") + the two scales. Fails a batch holding id kFailId, and
// one longer than log->max_length.
class TypedRunner : public ModelRunner {
 public:
  explicit TypedRunner(TypedLog* log) : log_(log) {}
  Status Run(const BatchTensor* inputs, int input_count, int64_t rows, float* output) override {
    if (input_count != 3) return Status::InvalidArgument("want 3 inputs");
    log_->Record(inputs, input_count, rows);
    const int64_t length = inputs[0].dims[2];
    if (length > log_->max_length) return Status::RuntimeError("longer than the position table");
    const int64_t* ids = static_cast<const int64_t*>(inputs[0].data);
    const uint8_t* flags = static_cast<const uint8_t*>(inputs[1].data);
    const uint16_t* scale = static_cast<const uint16_t*>(inputs[2].data);
    for (int64_t r = 0; r < rows; ++r) {
      double id_sum = 0, flag_count = 0;
      for (int64_t e = 0; e < 2 * length * 2; ++e) {
        if (ids[r * 2 * length * 2 + e] == kFailId) return Status::RuntimeError("id 777");
        id_sum += static_cast<double>(ids[r * 2 * length * 2 + e]);
      }
      for (int64_t e = 0; e < 3 * length; ++e) flag_count += flags[r * 3 * length + e];
      output[r * 2] = static_cast<float>(id_sum / 100.0);
      output[r * 2 + 1] = static_cast<float>(flag_count + HalfBitsToFloat(scale[r * 2]) + HalfBitsToFloat(scale[r * 2 + 1]));
    }
    return Status::Ok();
  }

 private:
  TypedLog* log_;
};

// Items padded to kPadded with junk past their own length (the engine must not copy it).
constexpr int32_t kPadded = 4;
struct TokenItems {
  std::vector<int32_t> lengths;
  std::vector<int64_t> ids;    // [n, 2, kPadded, 2]
  std::vector<uint8_t> flags;  // [n, 3, kPadded]
  std::vector<uint16_t> scale; // [n, 2]
  int64_t Id(size_t i, int o, int p, int j) const { return static_cast<int64_t>(i * 100 + o * 20 + p * 2 + j + 1); }
  uint8_t Flag(size_t i, int o, int p) const { return static_cast<uint8_t>((i + o + p) % 2); }
  explicit TokenItems(std::vector<int32_t> ls, size_t fail_item = SIZE_MAX) : lengths(std::move(ls)) {
    const size_t n = lengths.size();
    ids.assign(n * 2 * kPadded * 2, kFailId);
    flags.assign(n * 3 * kPadded, 1);
    for (size_t i = 0; i < n; ++i) {
      for (int p = 0; p < lengths[i]; ++p) {
        for (int o = 0; o < 2; ++o) {
          for (int j = 0; j < 2; ++j) ids[((i * 2 + o) * kPadded + p) * 2 + j] = i == fail_item ? kFailId : Id(i, o, p, j);
        }
        for (int o = 0; o < 3; ++o) flags[(i * 3 + o) * kPadded + p] = Flag(i, o, p);
      }
      scale.push_back(FloatToHalfBits(0.5f * static_cast<float>(i)));
      scale.push_back(FloatToHalfBits(0.25f));
    }
  }
  // The item's answer computed from its own positions only (plus padding flags when padded to `to`).
  std::vector<float> Expected(size_t i, int32_t to) const {
    double id_sum = 0, flag_count = 0;
    for (int p = 0; p < lengths[i]; ++p) {
      for (int o = 0; o < 2; ++o) {
        for (int j = 0; j < 2; ++j) id_sum += static_cast<double>(Id(i, o, p, j));
      }
      for (int o = 0; o < 3; ++o) flag_count += Flag(i, o, p);
    }
    flag_count += 3.0 * (to - lengths[i]);  // pad value 1
    return {static_cast<float>(id_sum / 100.0), static_cast<float>(flag_count + 0.5 * static_cast<double>(i) + 0.25)};
  }
};

struct TypedFixture {
  explicit TypedFixture(bool pad_invariant) {
    config.inputs = TokenSpecs();
    ModelConfig model;
    model.name = "tokens";
    model.output_elems = 2;
    model.output_kind = OutputKind::kLogits;
    model.pad_invariant = pad_invariant;
    config.models = {model};
    config.lanes = {{LaneConfig::kCpu, 0}};
    config.placement = {{0}};
  }
  Status Start(int max_batch) {
    RunnerFactory factory = [this](int, int, std::unique_ptr<ModelRunner>* out) {
      *out = std::make_unique<TypedRunner>(&log);
      return Status::Ok();
    };
    GearStage stage;
    stage.max_batch = max_batch;
    return Engine::Create(config, GearConfig{1, {stage}}, factory, collector.Fn(), &engine);
  }
  Status Submit(const TokenItems& items, int32_t padded = kPadded) {
    const size_t n = items.lengths.size();
    std::vector<uint64_t> tickets(n);
    for (size_t i = 0; i < n; ++i) tickets[i] = i;
    const void* tensors[3] = {items.ids.data(), items.flags.data(), items.scale.data()};
    std::vector<uint8_t> detail(n, kResultOutput), accepted(n, 0);
    return engine->SubmitTensors(static_cast<int64_t>(n), tickets.data(), tensors, 3, padded, items.lengths.data(), nullptr,
                                 nullptr, detail.data(), accepted.data());
  }
  // All items queued before any batch forms, then waits for every answer.
  bool SubmitAsOneBatch(const TokenItems& items) {
    engine->Pause();
    const bool submitted = Submit(items).ok();
    engine->Resume();
    return submitted && collector.WaitFor(items.lengths.size());
  }
  EngineConfig config;
  TypedLog log;
  cstest::Collector collector;
  std::unique_ptr<Engine> engine;
};

}  // namespace

// One batch of mixed lengths (dynamic axis in the middle for ids, last for flags): shapes at the
// longest item, every byte of every input as the padded layout says, answers per item.
TEST(EngineTypedInputsMixedLengthBatchLayout) {
  TypedFixture f(/*pad_invariant=*/true);
  CHECK(f.Start(8).ok());
  const TokenItems items({2, 1, 3, 2});  // longest 3 < kPadded: the batch is padded to 3
  f.engine->Pause();
  CHECK(f.Submit(items).ok());
  f.engine->Resume();
  CHECK(f.collector.WaitFor(4));
  std::lock_guard<std::mutex> lock(f.log.mu);
  CHECK_EQ(f.log.batches.size(), 1u);
  const RecordedBatch& b = f.log.batches[0];
  CHECK_EQ(b.rows, 4);
  CHECK(b.dims[0] == (std::vector<int64_t>{4, 2, 3, 2}));
  CHECK(b.dims[1] == (std::vector<int64_t>{4, 3, 3}));
  CHECK(b.dims[2] == (std::vector<int64_t>{4, 2}));
  int wrong = 0;
  for (size_t i = 0; i < 4; ++i) {
    for (int p = 0; p < 3; ++p) {
      for (int o = 0; o < 2; ++o) {
        for (int j = 0; j < 2; ++j) {
          const int64_t want = p < items.lengths[i] ? items.Id(i, o, p, j) : 0;
          if (Read<int64_t>(b.bytes[0].data() + (((i * 2 + o) * 3 + p) * 2 + j) * 8) != want) ++wrong;
        }
      }
      for (int o = 0; o < 3; ++o) {
        const uint8_t want = p < items.lengths[i] ? items.Flag(i, o, p) : 1;
        if (b.bytes[1][(i * 3 + o) * 3 + p] != want) ++wrong;
      }
    }
    for (int j = 0; j < 2; ++j) {
      if (Read<uint16_t>(b.bytes[2].data() + (i * 2 + j) * 2) != items.scale[i * 2 + j]) ++wrong;
    }
  }
  CHECK_EQ(wrong, 0);
  std::lock_guard<std::mutex> results_lock(f.collector.mu);
  for (const ItemResult& r : f.collector.results) {
    CHECK(r.status == StatusCode::kOk);
    const std::vector<float> want = items.Expected(r.ticket, 3);
    CHECK(r.output == want);
  }
  const StageQueueStats stats = f.engine->Stats().queues[0];
  CHECK_EQ(stats.item_positions, 8);
  CHECK_EQ(stats.padded_positions, 4);
}

// Not pad-invariant: batches of one length each, the head's first, in queue order; answers
// equal the unpadded item's.
TEST(EngineSameLengthBatchesForPadSensitiveModel) {
  TypedFixture f(/*pad_invariant=*/false);
  CHECK(f.Start(8).ok());
  const TokenItems items({3, 1, 3, 2, 1, 3, 4});
  f.engine->Pause();
  CHECK(f.Submit(items).ok());
  f.engine->Resume();
  CHECK(f.collector.WaitFor(7));
  {
    std::lock_guard<std::mutex> lock(f.log.mu);
    std::vector<std::pair<int64_t, int64_t>> shapes;  // (rows, length)
    for (const RecordedBatch& b : f.log.batches) shapes.emplace_back(b.rows, b.dims[0][2]);
    CHECK(shapes == (std::vector<std::pair<int64_t, int64_t>>{{3, 3}, {2, 1}, {1, 2}, {1, 4}}));
  }
  std::lock_guard<std::mutex> lock(f.collector.mu);
  CHECK_EQ(f.collector.results.size(), 7u);
  for (const ItemResult& r : f.collector.results) {
    CHECK(r.status == StatusCode::kOk);
    CHECK(r.output == items.Expected(r.ticket, items.lengths[r.ticket]));
  }
  CHECK_EQ(f.engine->Stats().queues[0].padded_positions, 0);
}

// A failing batch of mixed lengths is rerun row by row, each row at its own length: only the
// bad item fails, the others get their answers (unpadded: this fake counts padding flags).
TEST(EngineTypedInputsFailureIsolation) {
  TypedFixture f(/*pad_invariant=*/true);
  CHECK(f.Start(8).ok());
  const TokenItems items({2, 3, 1}, /*fail_item=*/1);
  CHECK(f.SubmitAsOneBatch(items));
  std::lock_guard<std::mutex> lock(f.collector.mu);
  for (const ItemResult& r : f.collector.results) {
    if (r.ticket == 1) {
      CHECK(r.status == StatusCode::kRuntimeError);
    } else {
      CHECK(r.status == StatusCode::kOk);
      CHECK(r.output == items.Expected(r.ticket, items.lengths[r.ticket]));
    }
  }
}

// An item too long for the model fails its padded batch as a whole; rerun at their own
// lengths, the shorter items are answered and only the long one fails.
TEST(EngineTypedInputsTooLongItemFailsAlone) {
  TypedFixture f(/*pad_invariant=*/true);
  f.log.max_length = 2;
  CHECK(f.Start(8).ok());
  const TokenItems items({2, 3, 1});
  CHECK(f.SubmitAsOneBatch(items));
  {
    std::lock_guard<std::mutex> lock(f.collector.mu);
    for (const ItemResult& r : f.collector.results) {
      if (r.ticket == 1) {
        CHECK(r.status == StatusCode::kRuntimeError);
        CHECK(r.error_message == "longer than the position table");
      } else {
        CHECK(r.status == StatusCode::kOk);
        CHECK(r.output == items.Expected(r.ticket, items.lengths[r.ticket]));
      }
    }
  }
  // Not under the collector's lock: the other tests take log.mu first (TSan's lock order).
  std::lock_guard<std::mutex> log_lock(f.log.mu);
  CHECK_EQ(f.log.batches.size(), 4u);  // the batch of 3, then each row alone
  CHECK_EQ(f.log.batches[1].dims[0][2], 2);
  CHECK_EQ(f.log.batches[3].dims[0][2], 1);
}

TEST(EngineSubmitTensorsGuards) {
  TypedFixture f(true);
  CHECK(f.Start(4).ok());
  TokenItems items({2, 1});
  items.lengths[1] = 5;  // longer than the padded length
  Status too_long = f.Submit(items);
  CHECK(!too_long.ok() && too_long.message().find("lengths[1]") != std::string::npos);
  items.lengths[1] = 0;
  CHECK(!f.Submit(items).ok());
  items.lengths[1] = 1;
  Status no_length = f.Submit(items, 0);
  CHECK(!no_length.ok() && no_length.message().find("padded_length") != std::string::npos);
  uint64_t ticket = 9;
  float x[4] = {0, 0, 0, 0};
  uint8_t accepted = 0;
  Status floats = f.engine->Submit(1, &ticket, x, nullptr, nullptr, nullptr, &accepted);
  CHECK(!floats.ok() && floats.message().find("SubmitTensors") != std::string::npos);
  CHECK_EQ(f.engine->item_elems(), 0);
  CHECK_EQ(f.collector.Count(), 0u);
}

namespace {

// Records the inputs it is given (count and shapes) and answers zeros.
class SubsetRunner : public ModelRunner {
 public:
  explicit SubsetRunner(TypedLog* log) : log_(log) {}
  Status Run(const BatchTensor* inputs, int input_count, int64_t rows, float* output) override {
    log_->Record(inputs, input_count, rows);
    std::fill(output, output + rows * 2, 0.f);
    return Status::Ok();
  }

 private:
  TypedLog* log_;
};

}  // namespace

// A model that takes a subset of the items' inputs (input_indices) gets those tensors only, in
// its own order; indices that name no input, or one twice, are refused naming the field.
TEST(EngineModelTakesASubsetOfTheInputs) {
  TypedFixture f(/*pad_invariant=*/true);
  f.config.models[0].input_indices = {2, 0};  // scale, then ids
  RunnerFactory factory = [&f](int, int, std::unique_ptr<ModelRunner>* out) {
    *out = std::make_unique<SubsetRunner>(&f.log);
    return Status::Ok();
  };
  GearStage stage;
  stage.max_batch = 8;
  CHECK(Engine::Create(f.config, GearConfig{1, {stage}}, factory, f.collector.Fn(), &f.engine).ok());
  const TokenItems items({2, 3});
  CHECK(f.SubmitAsOneBatch(items));
  {
    std::lock_guard<std::mutex> lock(f.log.mu);
    CHECK_EQ(f.log.batches.size(), 1u);
    const RecordedBatch& batch = f.log.batches[0];
    CHECK_EQ(batch.dims.size(), 2u);
    CHECK(batch.dims[0] == std::vector<int64_t>({2, 2}));        // scale [N, 2]
    CHECK(batch.dims[1] == std::vector<int64_t>({2, 2, 3, 2}));  // ids [N, 2, L, 2], L = 3
    const uint16_t* scale = reinterpret_cast<const uint16_t*>(batch.bytes[0].data());
    CHECK_EQ(HalfBitsToFloat(scale[2]), 0.5f);  // item 1's first scale
  }
  f.engine.reset();

  for (const auto& [indices, message] : std::vector<std::pair<std::vector<int>, std::string>>{
           {{0, 5}, "models[0].input_indices[1]: input 5 does not exist (3 inputs)"},
           {{1, 1}, "models[0].input_indices[1]: input 1 is listed twice"}}) {
    TypedFixture bad(true);
    bad.config.models[0].input_indices = indices;
    Status status = bad.Start(4);
    CHECK_EQ(status.message(), message);
  }
}
