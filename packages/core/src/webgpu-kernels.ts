import * as tf from '@tensorflow/tfjs';

/**
 * Kernel fixes for tfjs-backend-webgpu 4.22, registered when the backend starts (setupBackend).
 *
 * Cast from int32 or bool to float32: the stock kernel treats it as lossless and returns the same
 * GPU buffer relabelled float32, but WebGPU keeps int32 and bool data as i32 words, so the next
 * shader reads their bits as f32 (a one-hot 1 becomes 1.4e-45) or fails to compile (Transpose:
 * "type mismatch … expected 'f32', got 'i32'"). That broke max-pooling's routing mask. The
 * replacement converts on the GPU; every other cast goes to the stock kernel.
 */

/** The part of tfjs-webgpu's backend and program interfaces this kernel uses. */
interface WebgpuBackendLike {
  runWebGPUProgram(program: object, inputs: tf.TensorInfo[], outputDtype: tf.DataType): tf.TensorInfo;
}

/** y = f32(x), elementwise, on a flat dispatch (the shape of tfjs-webgpu's own unary programs). */
class ToFloatProgram {
  readonly variableNames = ['A'];
  readonly workgroupSize: [number, number, number] = [128, 1, 1];
  readonly size = true;
  readonly shaderKey = 'eqprop_to_float';
  readonly dispatchLayout: { x: number[] };
  readonly dispatch: [number, number, number];

  constructor(readonly outputShape: number[]) {
    // a flat layout over every axis, one element per thread (tfjs-webgpu's flatDispatchLayout and
    // computeDispatch; the backend folds a dispatch too large for one dimension)
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    const size = outputShape.reduce((a, b) => a * b, 1);
    this.dispatch = [Math.ceil(size / this.workgroupSize[0]), 1, 1];
  }

  getUserCode(): string {
    // getAByOutputIndex converts the input's i32 words to f32; setOutputAtIndex writes f32
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          setOutputAtIndex(index, getAByOutputIndex(index));
        }
      }`;
  }
}

let registered = false;

/** Registers the replacement kernels on the webgpu backend (once; after the backend package registered its own). */
export function registerWebgpuKernelFixes(): void {
  if (registered) return;
  const stock = tf.getKernel('Cast', 'webgpu');
  if (!stock) return;
  tf.unregisterKernel('Cast', 'webgpu');
  tf.registerKernel({
    kernelName: 'Cast',
    backendName: 'webgpu',
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
      if (dtype === 'float32' && (x.dtype === 'int32' || x.dtype === 'bool')) {
        return (args.backend as WebgpuBackendLike).runWebGPUProgram(new ToFloatProgram(x.shape), [x], 'float32');
      }
      return stock.kernelFunc(args);
    },
  });
  registered = true;
}
