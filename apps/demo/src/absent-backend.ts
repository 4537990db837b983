// Stands in for Node-only packages the demo does not bundle (@tensorflow/tfjs-node, and `webgpu`,
// Dawn's Node binding: a browser has navigator.gpu), which @eqprop/core imports on demand: Vite's
// dev server refuses unresolvable imports. With this stub, asking for them ends in core's
// "backend … is not available" error instead.
export {};
