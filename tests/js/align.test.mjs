import assert from "node:assert/strict";
import { test } from "node:test";
import {
  cropFaces,
  faceTransform,
  invertAffine,
  similarity,
  warpAffine,
} from "../../src/moodlens/service/static/engine/align.js";
import { bgrOf, bytes, compare, constants, fixture, frame } from "./helpers.mjs";

const data = fixture("align");
const crop = constants().crop;
const close = (a, b, tol = 1e-6) =>
  a.flat().forEach((v, i) => assert.ok(Math.abs(v - b.flat()[i]) <= tol, `${a.flat()} vs ${b.flat()}`));

test("similarity: Umeyama's least-squares similarity, as preprocess.similarity", () => {
  close(similarity(data.similarity.src, data.similarity.dst), data.similarity.matrix);
});

test("similarity of a shape to itself is the identity", () => {
  close(similarity(crop.fer_template, crop.fer_template), [
    [1, 0, 0],
    [0, 1, 0],
  ]);
});

test("the alignment matrix of each face equals preprocess.face_transform", () => {
  for (const face of data.faces) {
    close(faceTransform(face, { scale: 1, shift_y: 0, align: true }, [48, 48], crop), face.matrix);
    close(faceTransform(face, { scale: 1.25, shift_y: 0.1, align: true }, [48, 48], crop), face.matrix_zoomed);
  }
});

test("invertAffine undoes a matrix", () => {
  const m = data.warp.matrix;
  const inv = invertAffine(m);
  const back = invertAffine(inv);
  close(back, m, 1e-9);
});

test("warpAffine is bit-exact with cv2.warpAffine (INTER_LINEAR, BORDER_REPLICATE)", () => {
  const out = warpAffine(frame(data.image), data.warp.matrix, 48, 48);
  assert.equal(compare(bgrOf(out), bytes(data.warp.bgr)).max, 0);
});

test("gray crops equal preprocess.crop_faces (small, large, area-shrunk and box-only faces)", () => {
  const image = frame(data.image);
  const batch = cropFaces(image, data.faces, { scale: 1, shift_y: 0, align: true }, [48, 48], crop);
  data.faces.forEach((face, i) => {
    const mine = batch.subarray(i * 48 * 48, (i + 1) * 48 * 48);
    const { max } = compare(mine, bytes(face.crop));
    assert.equal(max, 0, `face ${i}: crops differ by up to ${max}`);
  });
});

test("no faces: an empty batch", () => {
  assert.equal(cropFaces(frame(data.image), [], { scale: 1, shift_y: 0, align: true }, [48, 48], crop).length, 0);
});
