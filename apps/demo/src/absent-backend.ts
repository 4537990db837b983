// Stands in for optional tfjs backends the demo does not bundle (@tensorflow/tfjs-node,
// @tensorflow/tfjs-backend-webgpu), which @eqprop/core's setupBackend imports on demand: Vite's
// dev server refuses unresolvable imports. With this stub, asking for them ends in core's
// "backend … is not available" error instead.
export {};
