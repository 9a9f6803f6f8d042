// The expression classifier, as classification/onnx.py runs it: the model's metadata (its JSON,
// shipped beside the weights) says the input, the crop, the decision offset and the temperature.
// Probabilities are calibrated: softmax((log p + offset) / T), or softmax(logits / T), or p
// renormalised and tempered, exactly as OnnxClassifier.predict_prepared does.

/** The parts of a moodlens-classifier/1 JSON the engine needs (classification/metadata.py). */
export function parseMetadata(raw) {
  const input = raw.input ?? {};
  const output = raw.output ?? {};
  const calibration = raw.calibration ?? {};
  const decision = raw.decision ?? {};
  const meta = {
    labels: raw.labels,
    inputName: input.name ?? "input",
    inputSize: input.size,
    colour: input.colour ?? "gray",
    outputName: output.name ?? "probabilities",
    output: output.kind ?? "probabilities",
    crop: { scale: 1, shift_y: 0, align: true, ...(raw.crop ?? {}) },
    temperature: calibration.temperature ?? 1,
    offset: decision.offset ?? null,
  };
  if (meta.colour !== "gray") throw new Error(`the engine crops gray faces only; this model wants ${meta.colour}`);
  return meta;
}

function softmaxRow(values) {
  const max = Math.max(...values);
  const e = values.map((v) => Math.exp(v - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** Calibrated probabilities of one row of raw model output (OnnxClassifier.predict_prepared). */
export function calibrate(row, meta) {
  const t = meta.temperature;
  if (meta.offset) {
    const logp = meta.output === "logits" ? row : row.map((p) => Math.log(Math.max(p, 1e-12)));
    return softmaxRow(logp.map((v, i) => (v + meta.offset[i]) / t));
  }
  if (meta.output === "logits") return softmaxRow(row.map((v) => v / t));
  const clipped = row.map((p) => Math.max(p, 0));
  const total = clipped.reduce((a, b) => a + b, 0);
  if (!(total > 0) || !Number.isFinite(total)) throw new Error("the model returned a row that is not probabilities");
  const probs = clipped.map((p) => p / total);
  if (t === 1) return probs;
  return softmaxRow(probs.map((p) => Math.log(Math.max(p, 1e-12)) / t));
}

export class Classifier {
  constructor(ort, session, meta) {
    this.ort = ort;
    this.session = session;
    this.meta = meta;
  }

  /** Probabilities (arrays of 7) for a batch of crops: Float32Array (N, 1, h, w). */
  async predict(batch, n) {
    if (n === 0) return [];
    const [h, w] = this.meta.inputSize;
    const tensor = new this.ort.Tensor("float32", batch, [n, 1, h, w]);
    const results = await this.session.run({ [this.meta.inputName]: tensor }, [this.meta.outputName]);
    const out = results[this.meta.outputName];
    const k = out.dims[1];
    const rows = [];
    for (let i = 0; i < n; i++) rows.push(calibrate(Array.from(out.data.subarray(i * k, (i + 1) * k)), this.meta));
    tensor.dispose?.();
    out.dispose?.();
    return rows;
  }
}
