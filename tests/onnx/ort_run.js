// Runs an ONNX model in ONNX Runtime (the onnxruntime-node package) on raw float32 inputs and
// writes its outputs as raw float32.
//   node ort_run.js MODEL.onnx INPUT.f32 SHAPE OUTPUT.f32     (SHAPE: e.g. 500,1,28,28)
const ort = require('onnxruntime-node');
const fs = require('fs');

async function main() {
  const [model, input, shapeText, output] = process.argv.slice(2);
  const shape = shapeText.split(',').map(Number);
  const bytes = fs.readFileSync(input);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const session = await ort.InferenceSession.create(model);
  const result = await session.run({input: new ort.Tensor('float32', data, shape)});
  const out = result.output;
  fs.writeFileSync(output, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  console.log(`${model}: output [${out.dims.join(', ')}]`);
}

main().catch((e) => {
  console.error(`ort_run: ${e.message}`);
  process.exit(1);
});
