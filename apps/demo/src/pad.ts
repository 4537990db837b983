import { toMnist } from './preprocess.js';

/**
 * A canvas to draw a digit on with mouse, pen or touch (pointer events). Calls `onDigit` with the
 * 28×28 MNIST-style image when a stroke ends, or with null after `clear()`.
 */
export class DrawingPad {
  private ctx: CanvasRenderingContext2D;
  private last: [number, number] | null = null;

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly onDigit: (pixels: Float32Array | null) => void,
  ) {
    this.ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    this.clear(false);
    canvas.addEventListener('pointerdown', (e) => {
      canvas.setPointerCapture(e.pointerId);
      this.last = this.point(e);
      this.stroke(this.last, this.last);
      e.preventDefault();
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!this.last) return;
      // coalesced events keep fast strokes smooth
      for (const ev of e.getCoalescedEvents?.() ?? [e]) {
        const p = this.point(ev);
        this.stroke(this.last, p);
        this.last = p;
      }
    });
    const end = () => {
      if (!this.last) return;
      this.last = null;
      this.onDigit(this.digit());
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
  }

  private point(e: PointerEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * this.canvas.width, ((e.clientY - r.top) / r.height) * this.canvas.height];
  }

  private stroke(a: [number, number], b: [number, number]): void {
    const { ctx } = this;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = this.canvas.width / 13;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(...a);
    ctx.lineTo(...b);
    ctx.stroke();
  }

  clear(notify = true): void {
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (notify) this.onDigit(null);
  }

  /** Shows a 28×28 image (values in [0, 1]) enlarged on the pad and reports it. */
  show(pixels: Float32Array): void {
    const small = document.createElement('canvas');
    small.width = small.height = 28;
    const sctx = small.getContext('2d')!;
    const img = sctx.createImageData(28, 28);
    pixels.forEach((v, i) => img.data.set([255 * v, 255 * v, 255 * v, 255], i * 4));
    sctx.putImageData(img, 0, 0);
    this.clear(false);
    this.ctx.imageSmoothingEnabled = true;
    this.ctx.drawImage(small, 0, 0, this.canvas.width, this.canvas.height);
    this.onDigit(pixels);
  }

  /** The drawing as a 28×28 MNIST-style input, or null when empty. */
  digit(): Float32Array | null {
    const { width: w, height: h } = this.canvas;
    const rgba = this.ctx.getImageData(0, 0, w, h).data;
    const ink = new Float32Array(w * h);
    for (let i = 0; i < w * h; i++) ink[i] = rgba[i * 4] / 255;
    return toMnist(ink, w, h);
  }
}
