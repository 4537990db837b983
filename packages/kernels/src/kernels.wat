;; eqprop's fused CPU kernels: float32 on an imported memory, 128-bit SIMD, no FMA (not in baseline
;; wasm). Pointers are byte offsets, sizes and leading dimensions element counts. Assembled by
;; scripts/build-wasm.mjs into src/kernels-wasm.ts twice, with a shared memory (threads) and with a
;; plain one (runtimes without SharedArrayBuffer); committed, so installs need no toolchain.
;;
;; Every kernel gives each output element the same float32 operations in the same order whatever
;; block of rows, columns or values it is computed in (tiles and remainders alike): work split over
;; threads by rows, output columns or ranges gives the results of one thread, bit for bit.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; c = init + a·b: c [m×n], a [m×k], b [k×n], row-major with leading dimensions (ldi 0: one row of
  ;; init for every row, a bias; init 0: none; init may be c). Each element is init + Σ_p a·b summed
  ;; in order of p. Tiles of 4 rows × 8 columns keep 8 accumulators in registers (each b row is read
  ;; once per 4 rows); the rest goes one row × 4 columns, then one element, at a time.
  (func $gemm_nn (export "gemm_nn") (param $a i32) (param $lda i32) (param $b i32) (param $ldb i32)
        (param $init i32) (param $ldi i32) (param $c i32) (param $ldc i32) (param $m i32) (param $n i32) (param $k i32)
    (local $i i32) (local $j i32) (local $p i32) (local $ap i32) (local $bp i32) (local $q i32)
    (local $m4 i32) (local $n8 i32) (local $lda2 i32) (local $lda3 i32)
    (local $s v128) (local $b0 v128) (local $b1 v128)
    (local $x00 v128) (local $x01 v128) (local $x10 v128) (local $x11 v128)
    (local $x20 v128) (local $x21 v128) (local $x30 v128) (local $x31 v128) (local $v f32)
    (local.set $lda (i32.shl (local.get $lda) (i32.const 2)))
    (local.set $ldb (i32.shl (local.get $ldb) (i32.const 2)))
    (local.set $ldi (i32.shl (local.get $ldi) (i32.const 2)))
    (local.set $ldc (i32.shl (local.get $ldc) (i32.const 2)))
    (local.set $lda2 (i32.shl (local.get $lda) (i32.const 1)))
    (local.set $lda3 (i32.add (local.get $lda2) (local.get $lda)))
    (local.set $m4 (i32.and (local.get $m) (i32.const -4)))
    (local.set $n8 (i32.and (local.get $n) (i32.const -8)))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $i) (local.get $m4)))
      (local.set $j (i32.const 0))
      (block $d8 (loop $l8
        (br_if $d8 (i32.ge_u (local.get $j) (local.get $n8)))
        (if (local.get $init)
          (then
            (local.set $q (i32.add (i32.add (local.get $init) (i32.mul (local.get $i) (local.get $ldi))) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $x00 (v128.load (local.get $q))) (local.set $x01 (v128.load offset=16 (local.get $q)))
            (local.set $q (i32.add (local.get $q) (local.get $ldi)))
            (local.set $x10 (v128.load (local.get $q))) (local.set $x11 (v128.load offset=16 (local.get $q)))
            (local.set $q (i32.add (local.get $q) (local.get $ldi)))
            (local.set $x20 (v128.load (local.get $q))) (local.set $x21 (v128.load offset=16 (local.get $q)))
            (local.set $q (i32.add (local.get $q) (local.get $ldi)))
            (local.set $x30 (v128.load (local.get $q))) (local.set $x31 (v128.load offset=16 (local.get $q))))
          (else
            (local.set $x00 (v128.const i32x4 0 0 0 0)) (local.set $x01 (v128.const i32x4 0 0 0 0))
            (local.set $x10 (v128.const i32x4 0 0 0 0)) (local.set $x11 (v128.const i32x4 0 0 0 0))
            (local.set $x20 (v128.const i32x4 0 0 0 0)) (local.set $x21 (v128.const i32x4 0 0 0 0))
            (local.set $x30 (v128.const i32x4 0 0 0 0)) (local.set $x31 (v128.const i32x4 0 0 0 0))))
        (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $p (i32.const 0))
        (block $dp (loop $lp
          (br_if $dp (i32.ge_u (local.get $p) (local.get $k)))
          (local.set $b0 (v128.load (local.get $bp)))
          (local.set $b1 (v128.load offset=16 (local.get $bp)))
          (local.set $s (v128.load32_splat (local.get $ap)))
          (local.set $x00 (f32x4.add (local.get $x00) (f32x4.mul (local.get $s) (local.get $b0))))
          (local.set $x01 (f32x4.add (local.get $x01) (f32x4.mul (local.get $s) (local.get $b1))))
          (local.set $s (v128.load32_splat (i32.add (local.get $ap) (local.get $lda))))
          (local.set $x10 (f32x4.add (local.get $x10) (f32x4.mul (local.get $s) (local.get $b0))))
          (local.set $x11 (f32x4.add (local.get $x11) (f32x4.mul (local.get $s) (local.get $b1))))
          (local.set $s (v128.load32_splat (i32.add (local.get $ap) (local.get $lda2))))
          (local.set $x20 (f32x4.add (local.get $x20) (f32x4.mul (local.get $s) (local.get $b0))))
          (local.set $x21 (f32x4.add (local.get $x21) (f32x4.mul (local.get $s) (local.get $b1))))
          (local.set $s (v128.load32_splat (i32.add (local.get $ap) (local.get $lda3))))
          (local.set $x30 (f32x4.add (local.get $x30) (f32x4.mul (local.get $s) (local.get $b0))))
          (local.set $x31 (f32x4.add (local.get $x31) (f32x4.mul (local.get $s) (local.get $b1))))
          (local.set $ap (i32.add (local.get $ap) (i32.const 4)))
          (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $lp)))
        (local.set $q (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc))) (i32.shl (local.get $j) (i32.const 2))))
        (v128.store (local.get $q) (local.get $x00)) (v128.store offset=16 (local.get $q) (local.get $x01))
        (local.set $q (i32.add (local.get $q) (local.get $ldc)))
        (v128.store (local.get $q) (local.get $x10)) (v128.store offset=16 (local.get $q) (local.get $x11))
        (local.set $q (i32.add (local.get $q) (local.get $ldc)))
        (v128.store (local.get $q) (local.get $x20)) (v128.store offset=16 (local.get $q) (local.get $x21))
        (local.set $q (i32.add (local.get $q) (local.get $ldc)))
        (v128.store (local.get $q) (local.get $x30)) (v128.store offset=16 (local.get $q) (local.get $x31))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $l8)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l4)))
    ;; what the tiles left: columns from n8 on in their rows, every column in the last m % 4 rows
    (local.set $i (i32.const 0))
    (block $dr (loop $lr
      (br_if $dr (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $j (select (local.get $n8) (i32.const 0) (i32.lt_u (local.get $i) (local.get $m4))))
      (block $dc4 (loop $lc4
        (br_if $dc4 (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
        (local.set $x00 (if (result v128) (local.get $init)
          (then (v128.load (i32.add (i32.add (local.get $init) (i32.mul (local.get $i) (local.get $ldi))) (i32.shl (local.get $j) (i32.const 2)))))
          (else (v128.const i32x4 0 0 0 0))))
        (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $p (i32.const 0))
        (block $dp (loop $lp
          (br_if $dp (i32.ge_u (local.get $p) (local.get $k)))
          (local.set $x00 (f32x4.add (local.get $x00) (f32x4.mul (v128.load32_splat (local.get $ap)) (v128.load (local.get $bp)))))
          (local.set $ap (i32.add (local.get $ap) (i32.const 4)))
          (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $lp)))
        (v128.store (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc))) (i32.shl (local.get $j) (i32.const 2))) (local.get $x00))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $lc4)))
      (block $dc1 (loop $lc1
        (br_if $dc1 (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $v (if (result f32) (local.get $init)
          (then (f32.load (i32.add (i32.add (local.get $init) (i32.mul (local.get $i) (local.get $ldi))) (i32.shl (local.get $j) (i32.const 2)))))
          (else (f32.const 0))))
        (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $p (i32.const 0))
        (block $dp (loop $lp
          (br_if $dp (i32.ge_u (local.get $p) (local.get $k)))
          (local.set $v (f32.add (local.get $v) (f32.mul (f32.load (local.get $ap)) (f32.load (local.get $bp)))))
          (local.set $ap (i32.add (local.get $ap) (i32.const 4)))
          (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $lp)))
        (f32.store (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc))) (i32.shl (local.get $j) (i32.const 2))) (local.get $v))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $lc1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $lr)))
  )

;; c = bias + a·b where a's rows are mostly zeros (an MNIST image is ~80 % zero pixels, and so is
  ;; the input transposed for its coupling's gradient). First each row's nonzero values are listed,
  ;; without a branch: at `list`, m row ends, then row i's entries from list + 4m + 8ki (b's row
  ;; address and the value; k at most). Then each tile of 32, 4 or 1 columns goes over every row's
  ;; list: the tile's columns of b stay in cache while the rows go by. Each element sums its list in
  ;; order of p, so it is gemm_nn's sum without its zero terms: the same float32 value wherever b is
  ;; finite (a zero term adds ±0). bias: one row added to every row of c, or 0 for none.
  (func $gemm_sp (export "gemm_sp") (param $a i32) (param $lda i32) (param $b i32) (param $ldb i32)
        (param $bias i32) (param $c i32) (param $ldc i32) (param $m i32) (param $n i32) (param $k i32) (param $list i32)
    (local $i i32) (local $j i32) (local $p i32) (local $ap i32) (local $e i32) (local $end i32) (local $bp i32) (local $q i32)
    (local $rows i32) (local $n32 i32) (local $v f32) (local $s v128) (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $x4 v128) (local $x5 v128) (local $x6 v128) (local $x7 v128)
    (local.set $lda (i32.shl (local.get $lda) (i32.const 2)))
    (local.set $ldb (i32.shl (local.get $ldb) (i32.const 2)))
    (local.set $ldc (i32.shl (local.get $ldc) (i32.const 2)))
    (local.set $n32 (i32.and (local.get $n) (i32.const -32)))
    (local.set $rows (i32.add (local.get $list) (i32.shl (local.get $m) (i32.const 2))))
    ;; the lists: every value is written, a row's end moves on only past a nonzero (or a NaN)
    (block $di (loop $li
      (br_if $di (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))))
      (local.set $bp (local.get $b))
      (local.set $end (i32.add (local.get $rows) (i32.shl (i32.mul (local.get $i) (local.get $k)) (i32.const 3))))
      (local.set $p (i32.const 0))
      (block $dp (loop $lp
        (br_if $dp (i32.ge_u (local.get $p) (local.get $k)))
        (local.set $v (f32.load (local.get $ap)))
        (i32.store (local.get $end) (local.get $bp))
        (f32.store offset=4 (local.get $end) (local.get $v))
        (local.set $end (i32.add (local.get $end) (i32.shl (f32.ne (local.get $v) (f32.const 0)) (i32.const 3))))
        (local.set $ap (i32.add (local.get $ap) (i32.const 4)))
        (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $lp)))
      (i32.store (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 2))) (local.get $end))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $li)))
    ;; tiles of 32 columns (8 accumulators), each over all rows
    (block $dj (loop $lj
      (br_if $dj (i32.ge_u (local.get $j) (local.get $n32)))
      (local.set $i (i32.const 0))
      (block $di (loop $li
        (br_if $di (i32.ge_u (local.get $i) (local.get $m)))
        (if (local.get $bias)
          (then
            (local.set $q (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))
              (local.set $x0 (v128.load offset=0 (local.get $q)))
              (local.set $x1 (v128.load offset=16 (local.get $q)))
              (local.set $x2 (v128.load offset=32 (local.get $q)))
              (local.set $x3 (v128.load offset=48 (local.get $q)))
              (local.set $x4 (v128.load offset=64 (local.get $q)))
              (local.set $x5 (v128.load offset=80 (local.get $q)))
              (local.set $x6 (v128.load offset=96 (local.get $q)))
              (local.set $x7 (v128.load offset=112 (local.get $q))))
          (else
              (local.set $x0 (v128.const i32x4 0 0 0 0))
              (local.set $x1 (v128.const i32x4 0 0 0 0))
              (local.set $x2 (v128.const i32x4 0 0 0 0))
              (local.set $x3 (v128.const i32x4 0 0 0 0))
              (local.set $x4 (v128.const i32x4 0 0 0 0))
              (local.set $x5 (v128.const i32x4 0 0 0 0))
              (local.set $x6 (v128.const i32x4 0 0 0 0))
              (local.set $x7 (v128.const i32x4 0 0 0 0))))
        (local.set $e (i32.add (local.get $rows) (i32.shl (i32.mul (local.get $i) (local.get $k)) (i32.const 3))))
        (local.set $end (i32.load (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 2)))))
        (block $de (loop $le
          (br_if $de (i32.ge_u (local.get $e) (local.get $end)))
          (local.set $bp (i32.add (i32.load (local.get $e)) (i32.shl (local.get $j) (i32.const 2))))
          (local.set $s (v128.load32_splat offset=4 (local.get $e)))
            (local.set $x0 (f32x4.add (local.get $x0) (f32x4.mul (local.get $s) (v128.load offset=0 (local.get $bp)))))
            (local.set $x1 (f32x4.add (local.get $x1) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $bp)))))
            (local.set $x2 (f32x4.add (local.get $x2) (f32x4.mul (local.get $s) (v128.load offset=32 (local.get $bp)))))
            (local.set $x3 (f32x4.add (local.get $x3) (f32x4.mul (local.get $s) (v128.load offset=48 (local.get $bp)))))
            (local.set $x4 (f32x4.add (local.get $x4) (f32x4.mul (local.get $s) (v128.load offset=64 (local.get $bp)))))
            (local.set $x5 (f32x4.add (local.get $x5) (f32x4.mul (local.get $s) (v128.load offset=80 (local.get $bp)))))
            (local.set $x6 (f32x4.add (local.get $x6) (f32x4.mul (local.get $s) (v128.load offset=96 (local.get $bp)))))
            (local.set $x7 (f32x4.add (local.get $x7) (f32x4.mul (local.get $s) (v128.load offset=112 (local.get $bp)))))
          (local.set $e (i32.add (local.get $e) (i32.const 8)))
          (br $le)))
        (local.set $q (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc))) (i32.shl (local.get $j) (i32.const 2))))
          (v128.store offset=0 (local.get $q) (local.get $x0))
          (v128.store offset=16 (local.get $q) (local.get $x1))
          (v128.store offset=32 (local.get $q) (local.get $x2))
          (v128.store offset=48 (local.get $q) (local.get $x3))
          (v128.store offset=64 (local.get $q) (local.get $x4))
          (v128.store offset=80 (local.get $q) (local.get $x5))
          (v128.store offset=96 (local.get $q) (local.get $x6))
          (v128.store offset=112 (local.get $q) (local.get $x7))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $li)))
      (local.set $j (i32.add (local.get $j) (i32.const 32)))
      (br $lj)))
    ;; then 4 columns at a time, then one, each over all rows
    (block $dj (loop $lj
      (br_if $dj (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $i (i32.const 0))
      (block $di (loop $li
        (br_if $di (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $e (i32.add (local.get $rows) (i32.shl (i32.mul (local.get $i) (local.get $k)) (i32.const 3))))
        (local.set $end (i32.load (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $q (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc))) (i32.shl (local.get $j) (i32.const 2))))
        (if (i32.le_u (i32.add (local.get $j) (i32.const 4)) (local.get $n))
          (then
            (local.set $x0 (if (result v128) (local.get $bias)
              (then (v128.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))
              (else (v128.const i32x4 0 0 0 0))))
            (block $de (loop $le
              (br_if $de (i32.ge_u (local.get $e) (local.get $end)))
              (local.set $x0 (f32x4.add (local.get $x0) (f32x4.mul (v128.load32_splat offset=4 (local.get $e))
                (v128.load (i32.add (i32.load (local.get $e)) (i32.shl (local.get $j) (i32.const 2)))))))
              (local.set $e (i32.add (local.get $e) (i32.const 8)))
              (br $le)))
            (v128.store (local.get $q) (local.get $x0)))
          (else
            (local.set $v (if (result f32) (local.get $bias)
              (then (f32.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))
              (else (f32.const 0))))
            (block $de (loop $le
              (br_if $de (i32.ge_u (local.get $e) (local.get $end)))
              (local.set $v (f32.add (local.get $v) (f32.mul (f32.load offset=4 (local.get $e))
                (f32.load (i32.add (i32.load (local.get $e)) (i32.shl (local.get $j) (i32.const 2)))))))
              (local.set $e (i32.add (local.get $e) (i32.const 8)))
              (br $le)))
            (f32.store (local.get $q) (local.get $v))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $li)))
      (local.set $j (i32.add (local.get $j) (select (i32.const 4) (i32.const 1) (i32.le_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))))
      (br $lj)))
  )

  ;; c = init + a·btᵀ: bt [n×k] (ldb its leading dimension); for outputs too narrow for gemm_nn's
  ;; columns. Each element is a dot product: lane l sums the products at p ≡ l (mod 4) below k & ~3,
  ;; then (l0 + l1) + (l2 + l3), then the last k % 4 products in order, then init + that.
  ;; Tiles of 4 rows × 2 columns (8 accumulators); the rest one element at a time.
  (func $gemm_nt (export "gemm_nt") (param $a i32) (param $lda i32) (param $b i32) (param $ldb i32)
        (param $init i32) (param $ldi i32) (param $c i32) (param $ldc i32) (param $m i32) (param $n i32) (param $k i32)
    (local $i i32) (local $j i32) (local $p i32) (local $k4 i32) (local $m4 i32) (local $n2 i32)
    (local $a0 i32) (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $b0 i32) (local $b1 i32)
    (local $av v128) (local $v0 v128) (local $v1 v128)
    (local $x00 v128) (local $x01 v128) (local $x10 v128) (local $x11 v128)
    (local $x20 v128) (local $x21 v128) (local $x30 v128) (local $x31 v128)
    (local.set $lda (i32.shl (local.get $lda) (i32.const 2)))
    (local.set $ldb (i32.shl (local.get $ldb) (i32.const 2)))
    (local.set $k4 (i32.shl (i32.and (local.get $k) (i32.const -4)) (i32.const 2)))
    (local.set $m4 (i32.and (local.get $m) (i32.const -4)))
    (local.set $n2 (i32.and (local.get $n) (i32.const -2)))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $i) (local.get $m4)))
      (local.set $a0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))))
      (local.set $a1 (i32.add (local.get $a0) (local.get $lda)))
      (local.set $a2 (i32.add (local.get $a1) (local.get $lda)))
      (local.set $a3 (i32.add (local.get $a2) (local.get $lda)))
      (local.set $j (i32.const 0))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $j) (local.get $n2)))
        (local.set $b0 (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $ldb))))
        (local.set $b1 (i32.add (local.get $b0) (local.get $ldb)))
        (local.set $x00 (v128.const i32x4 0 0 0 0)) (local.set $x01 (v128.const i32x4 0 0 0 0))
        (local.set $x10 (v128.const i32x4 0 0 0 0)) (local.set $x11 (v128.const i32x4 0 0 0 0))
        (local.set $x20 (v128.const i32x4 0 0 0 0)) (local.set $x21 (v128.const i32x4 0 0 0 0))
        (local.set $x30 (v128.const i32x4 0 0 0 0)) (local.set $x31 (v128.const i32x4 0 0 0 0))
        (local.set $p (i32.const 0))
        (block $dp (loop $lp
          (br_if $dp (i32.ge_u (local.get $p) (local.get $k4)))
          (local.set $v0 (v128.load (i32.add (local.get $b0) (local.get $p))))
          (local.set $v1 (v128.load (i32.add (local.get $b1) (local.get $p))))
          (local.set $av (v128.load (i32.add (local.get $a0) (local.get $p))))
          (local.set $x00 (f32x4.add (local.get $x00) (f32x4.mul (local.get $av) (local.get $v0))))
          (local.set $x01 (f32x4.add (local.get $x01) (f32x4.mul (local.get $av) (local.get $v1))))
          (local.set $av (v128.load (i32.add (local.get $a1) (local.get $p))))
          (local.set $x10 (f32x4.add (local.get $x10) (f32x4.mul (local.get $av) (local.get $v0))))
          (local.set $x11 (f32x4.add (local.get $x11) (f32x4.mul (local.get $av) (local.get $v1))))
          (local.set $av (v128.load (i32.add (local.get $a2) (local.get $p))))
          (local.set $x20 (f32x4.add (local.get $x20) (f32x4.mul (local.get $av) (local.get $v0))))
          (local.set $x21 (f32x4.add (local.get $x21) (f32x4.mul (local.get $av) (local.get $v1))))
          (local.set $av (v128.load (i32.add (local.get $a3) (local.get $p))))
          (local.set $x30 (f32x4.add (local.get $x30) (f32x4.mul (local.get $av) (local.get $v0))))
          (local.set $x31 (f32x4.add (local.get $x31) (f32x4.mul (local.get $av) (local.get $v1))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $lp)))
        (call $dot_end (local.get $x00) (local.get $a0) (local.get $b0) (local.get $k4) (local.get $k) (local.get $init) (local.get $ldi) (local.get $c) (local.get $ldc) (local.get $i) (local.get $j))
        (call $dot_end (local.get $x01) (local.get $a0) (local.get $b1) (local.get $k4) (local.get $k) (local.get $init) (local.get $ldi) (local.get $c) (local.get $ldc) (local.get $i) (i32.add (local.get $j) (i32.const 1)))
        (call $dot_end (local.get $x10) (local.get $a1) (local.get $b0) (local.get $k4) (local.get $k) (local.get $init) (local.get $ldi) (local.get $c) (local.get $ldc) (i32.add (local.get $i) (i32.const 1)) (local.get $j))
        (call $dot_end (local.get $x11) (local.get $a1) (local.get $b1) (local.get $k4) (local.get $k) (local.get $init) (local.get $ldi) (local.get $c) (local.get $ldc) (i32.add (local.get $i) (i32.const 1)) (i32.add (local.get $j) (i32.const 1)))
        (call $dot_end (local.get $x20) (local.get $a2) (local.get $b0) (local.get $k4) (local.get $k) (local.get $init) (local.get $ldi) (local.get $c) (local.get $ldc) (i32.add (local.get $i) (i32.const 2)) (local.get $j))
        (call $dot_end (local.get $x21) (local.get $a2) (local.get $b1) (local.get $k4) (local.get $k) (local.get $init) (local.get $ldi) (local.get $c) (local.get $ldc) (i32.add (local.get $i) (i32.const 2)) (i32.add (local.get $j) (i32.const 1)))
        (call $dot_end (local.get $x30) (local.get $a3) (local.get $b0) (local.get $k4) (local.get $k) (local.get $init) (local.get $ldi) (local.get $c) (local.get $ldc) (i32.add (local.get $i) (i32.const 3)) (local.get $j))
        (call $dot_end (local.get $x31) (local.get $a3) (local.get $b1) (local.get $k4) (local.get $k) (local.get $init) (local.get $ldi) (local.get $c) (local.get $ldc) (i32.add (local.get $i) (i32.const 3)) (i32.add (local.get $j) (i32.const 1)))
        (local.set $j (i32.add (local.get $j) (i32.const 2)))
        (br $l2)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l4)))
    ;; what the tiles left: the last column of an odd n in their rows, every column in the last m % 4 rows
    (local.set $i (i32.const 0))
    (block $dr (loop $lr
      (br_if $dr (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $a0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))))
      (local.set $j (select (local.get $n2) (i32.const 0) (i32.lt_u (local.get $i) (local.get $m4))))
      (block $dc (loop $lc
        (br_if $dc (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $b0 (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $ldb))))
        (local.set $x00 (v128.const i32x4 0 0 0 0))
        (local.set $p (i32.const 0))
        (block $dp (loop $lp
          (br_if $dp (i32.ge_u (local.get $p) (local.get $k4)))
          (local.set $x00 (f32x4.add (local.get $x00)
            (f32x4.mul (v128.load (i32.add (local.get $a0) (local.get $p))) (v128.load (i32.add (local.get $b0) (local.get $p))))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $lp)))
        (call $dot_end (local.get $x00) (local.get $a0) (local.get $b0) (local.get $k4) (local.get $k) (local.get $init) (local.get $ldi) (local.get $c) (local.get $ldc) (local.get $i) (local.get $j))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $lc)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $lr)))
  )

  ;; Element (i, j) of gemm_nt from its lane sums x: the lanes, the last k % 4 products, init.
  (func $dot_end (param $x v128) (param $arow i32) (param $brow i32) (param $k4 i32) (param $k i32)
        (param $init i32) (param $ldi i32) (param $c i32) (param $ldc i32) (param $i i32) (param $j i32)
    (local $v f32) (local $p i32) (local $kb i32)
    (local.set $v (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $x)) (f32x4.extract_lane 1 (local.get $x)))
      (f32.add (f32x4.extract_lane 2 (local.get $x)) (f32x4.extract_lane 3 (local.get $x)))))
    (local.set $kb (i32.shl (local.get $k) (i32.const 2)))
    (local.set $p (local.get $k4))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $p) (local.get $kb)))
      (local.set $v (f32.add (local.get $v) (f32.mul (f32.load (i32.add (local.get $arow) (local.get $p))) (f32.load (i32.add (local.get $brow) (local.get $p))))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l)))
    (if (local.get $init)
      (then (local.set $v (f32.add
        (f32.load (i32.add (i32.add (local.get $init) (i32.mul (local.get $i) (i32.shl (local.get $ldi) (i32.const 2)))) (i32.shl (local.get $j) (i32.const 2))))
        (local.get $v)))))
    (f32.store (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (i32.shl (local.get $ldc) (i32.const 2)))) (i32.shl (local.get $j) (i32.const 2))) (local.get $v)))

;; ---- element-wise kernels: len values, any len (the last len % 4 go through the same vector code,
  ;; loaded and stored lane by lane, so a value's result does not depend on where a range starts) ----

  ;; The r < 4 values at p as lanes 0 … r − 1 (the others 0), and their store back.
  (func $ld_part (param $p i32) (param $r i32) (result v128)
    (local $v v128)
    (local.set $v (v128.const i32x4 0 0 0 0))
    (if (i32.gt_u (local.get $r) (i32.const 0)) (then (local.set $v (v128.load32_lane 0 (local.get $p) (local.get $v)))))
    (if (i32.gt_u (local.get $r) (i32.const 1)) (then (local.set $v (v128.load32_lane offset=4 1 (local.get $p) (local.get $v)))))
    (if (i32.gt_u (local.get $r) (i32.const 2)) (then (local.set $v (v128.load32_lane offset=8 2 (local.get $p) (local.get $v)))))
    (local.get $v))
  (func $st_part (param $p i32) (param $r i32) (param $v v128)
    (if (i32.gt_u (local.get $r) (i32.const 0)) (then (v128.store32_lane 0 (local.get $p) (local.get $v))))
    (if (i32.gt_u (local.get $r) (i32.const 1)) (then (v128.store32_lane offset=4 1 (local.get $p) (local.get $v))))
    (if (i32.gt_u (local.get $r) (i32.const 2)) (then (v128.store32_lane offset=8 2 (local.get $p) (local.get $v)))))

  ;; out = act(z) (out may be z): kind 1 the logistic 1/(1 + e^−z), kind 2 clip(z, 0, 1).
  ;; The logistic: z clamped to [−87.5, 87.5] (2^n stays a normal float) (pmin and pmax keep a NaN, their first operand);
  ;; e^−z = 2^n·e^r with n = round(−z·log2 e), r in [−ln2/2, ln2/2] (Cody–Waite: ln2 in two parts);
  ;; n is rounded by adding 1.5·2^23 + 127, whose low mantissa bits are then n + 127, the biased
  ;; exponent that a shift makes 2^n (no rounding or conversion instruction, which V8 emulates in
  ;; several on x64); e^r by a degree-5 polynomial fitted for relative error (9.5e-8 on the range):
  ;; 2^n + (r·2^n)·(c1 + r(c2 + r(c3 + r(c4 + r·c5)))). Within 2.5e-7 relative of float64 where the
  ;; result is a normal float, 1 or ≤ 1.2e-38 at saturation, NaN only for a NaN. Its constants live
  ;; in locals: a v128.const inside a loop is rebuilt every iteration by V8.
  (func $activate (export "activate") (param $z i32) (param $out i32) (param $len i32) (param $kind i32)
    (local $i i32) (local $end i32) (local $r i32)
    (local $x0 v128) (local $y0 v128) (local $n0 v128) (local $t0 v128) (local $p0 v128)
    (local $x1 v128) (local $y1 v128) (local $n1 v128) (local $t1 v128) (local $p1 v128)
    (local $HI v128) (local $LO v128) (local $L2E v128) (local $MAG v128) (local $LN2H v128) (local $LN2L v128)
    (local $C1 v128) (local $C2 v128) (local $C3 v128) (local $C4 v128) (local $C5 v128) (local $ONE v128) (local $ZERO v128)
    (local.set $HI (v128.const f32x4 87.5 87.5 87.5 87.5))
    (local.set $LO (v128.const f32x4 -87.5 -87.5 -87.5 -87.5))
    (local.set $L2E (v128.const f32x4 -1.44269504 -1.44269504 -1.44269504 -1.44269504))
    (local.set $MAG (v128.const f32x4 12583039 12583039 12583039 12583039))
    (local.set $LN2H (v128.const f32x4 -0.693359375 -0.693359375 -0.693359375 -0.693359375))
    (local.set $LN2L (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4))
    (local.set $C1 (v128.const f32x4 0.99999970198 0.99999970198 0.99999970198 0.99999970198))
    (local.set $C2 (v128.const f32x4 0.49999150634 0.49999150634 0.49999150634 0.49999150634))
    (local.set $C3 (v128.const f32x4 0.16667635739 0.16667635739 0.16667635739 0.16667635739))
    (local.set $C4 (v128.const f32x4 0.04189794883 0.04189794883 0.04189794883 0.04189794883))
    (local.set $C5 (v128.const f32x4 0.00829031970 0.00829031970 0.00829031970 0.00829031970))
    (local.set $ONE (v128.const f32x4 1 1 1 1))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    ;; two vectors an iteration (independent chains keep the units busy); r values are left, and the
    ;; last group of fewer than 4 (or an absent second one) goes lane by lane through the same code
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $r (i32.shr_u (i32.sub (local.get $end) (local.get $i)) (i32.const 2)))
      (local.set $x0 (if (result v128) (i32.ge_u (local.get $r) (i32.const 4))
        (then (v128.load (i32.add (local.get $z) (local.get $i))))
        (else (call $ld_part (i32.add (local.get $z) (local.get $i)) (local.get $r)))))
      (local.set $x1 (if (result v128) (i32.ge_u (local.get $r) (i32.const 8))
        (then (v128.load offset=16 (i32.add (local.get $z) (local.get $i))))
        (else (if (result v128) (i32.gt_u (local.get $r) (i32.const 4))
          (then (call $ld_part (i32.add (i32.add (local.get $z) (local.get $i)) (i32.const 16)) (i32.sub (local.get $r) (i32.const 4))))
          (else (v128.const i32x4 0 0 0 0))))))
      (if (i32.eq (local.get $kind) (i32.const 1))
        (then
          (local.set $x0 (f32x4.pmax (f32x4.pmin (local.get $x0) (local.get $HI)) (local.get $LO)))
          (local.set $y0 (f32x4.add (f32x4.mul (local.get $x0) (local.get $L2E)) (local.get $MAG)))
          (local.set $n0 (f32x4.sub (local.get $y0) (local.get $MAG)))
          (local.set $t0 (f32x4.add (f32x4.sub (f32x4.mul (local.get $n0) (local.get $LN2H)) (local.get $x0))
                                   (f32x4.mul (local.get $n0) (local.get $LN2L))))
          (local.set $y0 (i32x4.shl (local.get $y0) (i32.const 23)))
          (local.set $p0 (f32x4.add (f32x4.mul (local.get $t0) (local.get $C5)) (local.get $C4)))
          (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $t0)) (local.get $C3)))
          (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $t0)) (local.get $C2)))
          (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $t0)) (local.get $C1)))
          (local.set $p0 (f32x4.add (f32x4.mul (f32x4.mul (local.get $t0) (local.get $y0)) (local.get $p0)) (local.get $y0)))
          (local.set $x0 (f32x4.div (local.get $ONE) (f32x4.add (local.get $ONE) (local.get $p0))))
          (local.set $x1 (f32x4.pmax (f32x4.pmin (local.get $x1) (local.get $HI)) (local.get $LO)))
          (local.set $y1 (f32x4.add (f32x4.mul (local.get $x1) (local.get $L2E)) (local.get $MAG)))
          (local.set $n1 (f32x4.sub (local.get $y1) (local.get $MAG)))
          (local.set $t1 (f32x4.add (f32x4.sub (f32x4.mul (local.get $n1) (local.get $LN2H)) (local.get $x1))
                                   (f32x4.mul (local.get $n1) (local.get $LN2L))))
          (local.set $y1 (i32x4.shl (local.get $y1) (i32.const 23)))
          (local.set $p1 (f32x4.add (f32x4.mul (local.get $t1) (local.get $C5)) (local.get $C4)))
          (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $t1)) (local.get $C3)))
          (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $t1)) (local.get $C2)))
          (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $t1)) (local.get $C1)))
          (local.set $p1 (f32x4.add (f32x4.mul (f32x4.mul (local.get $t1) (local.get $y1)) (local.get $p1)) (local.get $y1)))
          (local.set $x1 (f32x4.div (local.get $ONE) (f32x4.add (local.get $ONE) (local.get $p1))))
        )
        (else
          (local.set $x0 (f32x4.pmin (f32x4.pmax (local.get $x0) (local.get $ZERO)) (local.get $ONE)))
          (local.set $x1 (f32x4.pmin (f32x4.pmax (local.get $x1) (local.get $ZERO)) (local.get $ONE)))))
      (if (i32.ge_u (local.get $r) (i32.const 4))
        (then (v128.store (i32.add (local.get $out) (local.get $i)) (local.get $x0)))
        (else (call $st_part (i32.add (local.get $out) (local.get $i)) (local.get $r) (local.get $x0))))
      (if (i32.ge_u (local.get $r) (i32.const 8))
        (then (v128.store offset=16 (i32.add (local.get $out) (local.get $i)) (local.get $x1)))
        (else (if (i32.gt_u (local.get $r) (i32.const 4))
          (then (call $st_part (i32.add (i32.add (local.get $out) (local.get $i)) (i32.const 16)) (i32.sub (local.get $r) (i32.const 4)) (local.get $x1))))))
      (local.set $i (i32.add (local.get $i) (i32.const 32)))
      (br $l)))
  )

  ;; out = s·(1 − eps) + t·eps: a damped fixed-point step (out may be s or t).
  (func $lerp (export "lerp") (param $out i32) (param $s i32) (param $t i32) (param $len i32) (param $eps f32)
    (local $i i32) (local $end i32) (local $r i32) (local $A v128) (local $E v128) (local $u v128) (local $w v128)
    (local.set $A (f32x4.splat (f32.sub (f32.const 1) (local.get $eps))))
    (local.set $E (f32x4.splat (local.get $eps)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $r (i32.shr_u (i32.sub (local.get $end) (local.get $i)) (i32.const 2)))
      (if (i32.ge_u (local.get $r) (i32.const 4))
        (then
          (v128.store (i32.add (local.get $out) (local.get $i))
            (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $s) (local.get $i))) (local.get $A))
                       (f32x4.mul (v128.load (i32.add (local.get $t) (local.get $i))) (local.get $E)))))
        (else
          (local.set $u (call $ld_part (i32.add (local.get $s) (local.get $i)) (local.get $r)))
          (local.set $w (call $ld_part (i32.add (local.get $t) (local.get $i)) (local.get $r)))
          (call $st_part (i32.add (local.get $out) (local.get $i)) (local.get $r)
            (f32x4.add (f32x4.mul (local.get $u) (local.get $A)) (f32x4.mul (local.get $w) (local.get $E))))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
  )

  ;; out = z + ((y − s)·force)·scale: the MSE nudge −β ∂C/∂s = β·2w(y − s) added to a field or a
  ;; state, in the order of tfjs's ops (out may be z).
  (func $nudge (export "nudge") (param $out i32) (param $z i32) (param $y i32) (param $s i32) (param $len i32) (param $force f32) (param $scale f32)
    (local $i i32) (local $end i32) (local $r i32) (local $F v128) (local $S v128)
    (local.set $F (f32x4.splat (local.get $force)))
    (local.set $S (f32x4.splat (local.get $scale)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $r (i32.shr_u (i32.sub (local.get $end) (local.get $i)) (i32.const 2)))
      (if (i32.ge_u (local.get $r) (i32.const 4))
        (then
          (v128.store (i32.add (local.get $out) (local.get $i))
            (f32x4.add (v128.load (i32.add (local.get $z) (local.get $i)))
              (f32x4.mul (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $y) (local.get $i))) (v128.load (i32.add (local.get $s) (local.get $i))))
                                    (local.get $F)) (local.get $S)))))
        (else
          (call $st_part (i32.add (local.get $out) (local.get $i)) (local.get $r)
            (f32x4.add (call $ld_part (i32.add (local.get $z) (local.get $i)) (local.get $r))
              (f32x4.mul (f32x4.mul (f32x4.sub (call $ld_part (i32.add (local.get $y) (local.get $i)) (local.get $r))
                                               (call $ld_part (i32.add (local.get $s) (local.get $i)) (local.get $r)))
                                    (local.get $F)) (local.get $S))))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
  )

  ;; out = (a − b)·c, or a·c where b is 0 (out may be a or b): EP's differences of two phases.
  (func $scaled_diff (export "scaled_diff") (param $out i32) (param $a i32) (param $b i32) (param $len i32) (param $c f32)
    (local $i i32) (local $end i32) (local $r i32) (local $C v128) (local $u v128) (local $w v128)
    (local.set $C (f32x4.splat (local.get $c)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $r (i32.shr_u (i32.sub (local.get $end) (local.get $i)) (i32.const 2)))
      (local.set $u (if (result v128) (i32.ge_u (local.get $r) (i32.const 4))
        (then (v128.load (i32.add (local.get $a) (local.get $i))))
        (else (call $ld_part (i32.add (local.get $a) (local.get $i)) (local.get $r)))))
      (if (local.get $b)
        (then
          (local.set $w (if (result v128) (i32.ge_u (local.get $r) (i32.const 4))
            (then (v128.load (i32.add (local.get $b) (local.get $i))))
            (else (call $ld_part (i32.add (local.get $b) (local.get $i)) (local.get $r)))))
          (local.set $u (f32x4.sub (local.get $u) (local.get $w)))))
      (local.set $u (f32x4.mul (local.get $u) (local.get $C)))
      (if (i32.ge_u (local.get $r) (i32.const 4))
        (then (v128.store (i32.add (local.get $out) (local.get $i)) (local.get $u)))
        (else (call $st_part (i32.add (local.get $out) (local.get $i)) (local.get $r) (local.get $u))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
  )

  ;; v ← (v − centre)·gain: a static field made the activation's argument.
  (func $affine (export "affine") (param $v i32) (param $len i32) (param $centre f32) (param $gain f32)
    (local $i i32) (local $end i32) (local $r i32) (local $C v128) (local $G v128) (local $u v128)
    (local.set $C (f32x4.splat (local.get $centre)))
    (local.set $G (f32x4.splat (local.get $gain)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $r (i32.shr_u (i32.sub (local.get $end) (local.get $i)) (i32.const 2)))
      (local.set $u (if (result v128) (i32.ge_u (local.get $r) (i32.const 4))
        (then (v128.load (i32.add (local.get $v) (local.get $i))))
        (else (call $ld_part (i32.add (local.get $v) (local.get $i)) (local.get $r)))))
      (local.set $u (f32x4.mul (f32x4.sub (local.get $u) (local.get $C)) (local.get $G)))
      (if (i32.ge_u (local.get $r) (i32.const 4))
        (then (v128.store (i32.add (local.get $v) (local.get $i)) (local.get $u)))
        (else (call $st_part (i32.add (local.get $v) (local.get $i)) (local.get $r) (local.get $u))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
  )

  ;; y ← y + x·a: SGD (a = −lr) and weight decay (g ← g + wd·p).
  (func $axpy (export "axpy") (param $y i32) (param $x i32) (param $len i32) (param $a f32)
    (local $i i32) (local $end i32) (local $r i32) (local $A v128)
    (local.set $A (f32x4.splat (local.get $a)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $r (i32.shr_u (i32.sub (local.get $end) (local.get $i)) (i32.const 2)))
      (if (i32.ge_u (local.get $r) (i32.const 4))
        (then
          (v128.store (i32.add (local.get $y) (local.get $i))
            (f32x4.add (v128.load (i32.add (local.get $y) (local.get $i)))
                       (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $i))) (local.get $A)))))
        (else
          (call $st_part (i32.add (local.get $y) (local.get $i)) (local.get $r)
            (f32x4.add (call $ld_part (i32.add (local.get $y) (local.get $i)) (local.get $r))
                       (f32x4.mul (call $ld_part (i32.add (local.get $x) (local.get $i)) (local.get $r)) (local.get $A))))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
  )

  ;; Heavy-ball momentum: s ← mom·s + g; p ← p − lr·s.
  (func $momentum (export "momentum") (param $p i32) (param $g i32) (param $s i32) (param $len i32) (param $mom f32) (param $lr f32)
    (local $i i32) (local $end i32) (local $r i32) (local $sv v128) (local $M v128) (local $R v128)
    (local.set $M (f32x4.splat (local.get $mom)))
    (local.set $R (f32x4.splat (local.get $lr)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $r (i32.shr_u (i32.sub (local.get $end) (local.get $i)) (i32.const 2)))
      (if (i32.ge_u (local.get $r) (i32.const 4))
        (then
          (local.set $sv (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $s) (local.get $i))) (local.get $M))
                                    (v128.load (i32.add (local.get $g) (local.get $i)))))
          (v128.store (i32.add (local.get $s) (local.get $i)) (local.get $sv))
          (v128.store (i32.add (local.get $p) (local.get $i))
            (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $i))) (f32x4.mul (local.get $sv) (local.get $R)))))
        (else
          (local.set $sv (f32x4.add (f32x4.mul (call $ld_part (i32.add (local.get $s) (local.get $i)) (local.get $r)) (local.get $M))
                                    (call $ld_part (i32.add (local.get $g) (local.get $i)) (local.get $r))))
          (call $st_part (i32.add (local.get $s) (local.get $i)) (local.get $r) (local.get $sv))
          (call $st_part (i32.add (local.get $p) (local.get $i)) (local.get $r)
            (f32x4.sub (call $ld_part (i32.add (local.get $p) (local.get $i)) (local.get $r)) (f32x4.mul (local.get $sv) (local.get $R))))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
  )

  ;; Adam, m and v stored divided by (1−β1) and (1−β2) as in @eqprop/learning's Optimizer:
  ;; m ← b1·m + g; v ← b2·v + g²; p ← p − step·m/(√v + eps).
  (func $adam (export "adam") (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $len i32)
        (param $b1 f32) (param $b2 f32) (param $step f32) (param $eps f32)
    (local $i i32) (local $end i32) (local $r i32) (local $gv v128) (local $mv v128) (local $vv v128) (local $pv v128)
    (local $B1 v128) (local $B2 v128) (local $S v128) (local $E v128)
    (local.set $B1 (f32x4.splat (local.get $b1))) (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $S (f32x4.splat (local.get $step))) (local.set $E (f32x4.splat (local.get $eps)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $r (i32.shr_u (i32.sub (local.get $end) (local.get $i)) (i32.const 2)))
      (if (i32.ge_u (local.get $r) (i32.const 4))
        (then
          (local.set $gv (v128.load (i32.add (local.get $g) (local.get $i))))
          (local.set $mv (v128.load (i32.add (local.get $m) (local.get $i))))
          (local.set $vv (v128.load (i32.add (local.get $v) (local.get $i))))
          (local.set $pv (v128.load (i32.add (local.get $p) (local.get $i)))))
        (else
          (local.set $gv (call $ld_part (i32.add (local.get $g) (local.get $i)) (local.get $r)))
          (local.set $mv (call $ld_part (i32.add (local.get $m) (local.get $i)) (local.get $r)))
          (local.set $vv (call $ld_part (i32.add (local.get $v) (local.get $i)) (local.get $r)))
          (local.set $pv (call $ld_part (i32.add (local.get $p) (local.get $i)) (local.get $r)))))
      (local.set $mv (f32x4.add (f32x4.mul (local.get $mv) (local.get $B1)) (local.get $gv)))
      (local.set $vv (f32x4.add (f32x4.mul (local.get $vv) (local.get $B2)) (f32x4.mul (local.get $gv) (local.get $gv))))
      (local.set $pv (f32x4.sub (local.get $pv)
        (f32x4.mul (f32x4.div (local.get $mv) (f32x4.add (f32x4.sqrt (local.get $vv)) (local.get $E))) (local.get $S))))
      (if (i32.ge_u (local.get $r) (i32.const 4))
        (then
          (v128.store (i32.add (local.get $m) (local.get $i)) (local.get $mv))
          (v128.store (i32.add (local.get $v) (local.get $i)) (local.get $vv))
          (v128.store (i32.add (local.get $p) (local.get $i)) (local.get $pv)))
        (else
          (call $st_part (i32.add (local.get $m) (local.get $i)) (local.get $r) (local.get $mv))
          (call $st_part (i32.add (local.get $v) (local.get $i)) (local.get $r) (local.get $vv))
          (call $st_part (i32.add (local.get $p) (local.get $i)) (local.get $r) (local.get $pv))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
  )

  ;; ---- layout kernels ----

  ;; len floats from src to dst (regions may overlap).
  (func $copy (export "copy") (param $dst i32) (param $src i32) (param $len i32)
    (memory.copy (local.get $dst) (local.get $src) (i32.shl (local.get $len) (i32.const 2))))

  ;; dst[j, i] = src[i, j] for rows × cols of src (leading dimensions lds, ldd).
  (func $transpose (export "transpose") (param $src i32) (param $lds i32) (param $dst i32) (param $ldd i32) (param $rows i32) (param $cols i32)
    (local $i i32) (local $j i32) (local $sp i32)
    (block $di (loop $li
      (br_if $di (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $sp (i32.add (local.get $src) (i32.shl (i32.mul (local.get $i) (local.get $lds)) (i32.const 2))))
      (local.set $j (i32.const 0))
      (block $dj (loop $lj
        (br_if $dj (i32.ge_u (local.get $j) (local.get $cols)))
        (f32.store (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $j) (local.get $ldd)) (local.get $i)) (i32.const 2)))
          (f32.load (i32.add (local.get $sp) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $lj)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $li)))
  )

  ;; out[j] = (Σ_i src[i, j], in order of i)·scale for cols columns: a bias gradient.
  (func $colsum (export "colsum") (param $src i32) (param $lds i32) (param $out i32) (param $rows i32) (param $cols i32) (param $scale f32)
    (local $i i32) (local $j i32) (local $r i32) (local $sp i32) (local $acc v128) (local $S v128)
    (local.set $S (f32x4.splat (local.get $scale)))
    (local.set $lds (i32.shl (local.get $lds) (i32.const 2)))
    (block $dj (loop $lj
      (br_if $dj (i32.ge_u (local.get $j) (local.get $cols)))
      (local.set $r (i32.sub (local.get $cols) (local.get $j)))
      (local.set $acc (v128.const i32x4 0 0 0 0))
      (local.set $sp (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $i (i32.const 0))
      (block $di (loop $li
        (br_if $di (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $acc (f32x4.add (local.get $acc)
          (if (result v128) (i32.ge_u (local.get $r) (i32.const 4))
            (then (v128.load (local.get $sp)))
            (else (call $ld_part (local.get $sp) (local.get $r))))))
        (local.set $sp (i32.add (local.get $sp) (local.get $lds)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $li)))
      (local.set $acc (f32x4.mul (local.get $acc) (local.get $S)))
      (if (i32.ge_u (local.get $r) (i32.const 4))
        (then (v128.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (local.get $acc)))
        (else (call $st_part (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (local.get $r) (local.get $acc))))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $lj)))
  )

  ;; out[r] = max(out[r] if acc else 0, max_j |a[r, j] − b[r, j]|) for rows of width values: each
  ;; example's largest state change (a NaN makes it NaN).
  (func $row_change (export "row_change") (param $a i32) (param $b i32) (param $out i32) (param $rows i32) (param $width i32) (param $acc i32)
    (local $i i32) (local $j i32) (local $w i32) (local $w4 i32) (local $m v128) (local $pa i32) (local $pb i32) (local $v f32)
    (local.set $w (i32.shl (local.get $width) (i32.const 2)))
    (local.set $w4 (i32.and (local.get $w) (i32.const -16)))
    (block $di (loop $li
      (br_if $di (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $pa (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $w))))
      (local.set $pb (i32.add (local.get $b) (i32.mul (local.get $i) (local.get $w))))
      (local.set $m (v128.const i32x4 0 0 0 0))
      (local.set $j (i32.const 0))
      (block $dj (loop $lj
        (br_if $dj (i32.ge_u (local.get $j) (local.get $w4)))
        (local.set $m (f32x4.max (local.get $m) (f32x4.abs (f32x4.sub
          (v128.load (i32.add (local.get $pa) (local.get $j))) (v128.load (i32.add (local.get $pb) (local.get $j)))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $lj)))
      ;; the last width % 4 values (the others lanes load 0: |0 − 0| leaves the maximum)
      (if (i32.lt_u (local.get $j) (local.get $w))
        (then (local.set $m (f32x4.max (local.get $m) (f32x4.abs (f32x4.sub
          (call $ld_part (i32.add (local.get $pa) (local.get $j)) (i32.shr_u (i32.sub (local.get $w) (local.get $j)) (i32.const 2)))
          (call $ld_part (i32.add (local.get $pb) (local.get $j)) (i32.shr_u (i32.sub (local.get $w) (local.get $j)) (i32.const 2)))))))))
      (local.set $v (f32.max (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
                             (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
      (if (local.get $acc) (then (local.set $v (f32.max (local.get $v) (f32.load (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))))))))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (local.get $v))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $li)))
  )

  ;; out[0] = Σ x·0 over len values: 0 where all are finite, NaN where one is NaN or ±Inf (Inf·0 is
  ;; NaN): the finiteness check of parameters, states and gradients, one pass at memory speed.
  (func $nonfinite (export "nonfinite") (param $p i32) (param $len i32) (param $out i32)
    (local $i i32) (local $end i32) (local $end16 i32) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $Z v128)
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (local.set $end16 (i32.and (local.get $end) (i32.const -64)))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $i) (local.get $end16)))
      (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $i))) (local.get $Z))))
      (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (v128.load offset=16 (i32.add (local.get $p) (local.get $i))) (local.get $Z))))
      (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (v128.load offset=32 (i32.add (local.get $p) (local.get $i))) (local.get $Z))))
      (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (v128.load offset=48 (i32.add (local.get $p) (local.get $i))) (local.get $Z))))
      (local.set $i (i32.add (local.get $i) (i32.const 64)))
      (br $l)))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (local.get $Z)
        (if (result v128) (i32.ge_u (i32.sub (local.get $end) (local.get $i)) (i32.const 16))
          (then (v128.load (i32.add (local.get $p) (local.get $i))))
          (else (call $ld_part (i32.add (local.get $p) (local.get $i)) (i32.shr_u (i32.sub (local.get $end) (local.get $i)) (i32.const 2))))))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
    (local.set $s0 (f32x4.add (f32x4.add (local.get $s0) (local.get $s1)) (f32x4.add (local.get $s2) (local.get $s3))))
    (f32.store (local.get $out) (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s0)) (f32x4.extract_lane 1 (local.get $s0)))
                                         (f32.add (f32x4.extract_lane 2 (local.get $s0)) (f32x4.extract_lane 3 (local.get $s0))))))

  ;; ---- programs: a thread's share of a phase as one call ----

  ;; Runs count records of 12 words at prog: an op code, then its kernel's arguments in order
  ;; (i32, or f32 bits). The codes are wasm-kernels.ts's OPS.
  (func (export "run") (param $prog i32) (param $count i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $prog) (i32.mul (local.get $count) (i32.const 48))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $prog) (local.get $end)))
      (block $next
        (block $c16 (block $c15 (block $c14 (block $c13 (block $c12 (block $c11 (block $c10 (block $c9 (block $c8 (block $c7
        (block $c6 (block $c5 (block $c4 (block $c3 (block $c2 (block $c1 (block $c0
          (br_table $c0 $c1 $c2 $c3 $c4 $c5 $c6 $c7 $c8 $c9 $c10 $c11 $c12 $c13 $c14 $c15 $c16 $c0 (i32.load (local.get $prog))))
          unreachable)
        ;; 1 gemm_nn
        (call $gemm_nn (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (i32.load offset=16 (local.get $prog)) (i32.load offset=20 (local.get $prog)) (i32.load offset=24 (local.get $prog))
          (i32.load offset=28 (local.get $prog)) (i32.load offset=32 (local.get $prog)) (i32.load offset=36 (local.get $prog))
          (i32.load offset=40 (local.get $prog)) (i32.load offset=44 (local.get $prog)))
        (br $next))
        ;; 2 gemm_nt
        (call $gemm_nt (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (i32.load offset=16 (local.get $prog)) (i32.load offset=20 (local.get $prog)) (i32.load offset=24 (local.get $prog))
          (i32.load offset=28 (local.get $prog)) (i32.load offset=32 (local.get $prog)) (i32.load offset=36 (local.get $prog))
          (i32.load offset=40 (local.get $prog)) (i32.load offset=44 (local.get $prog)))
        (br $next))
        ;; 3 activate
        (call $activate (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (i32.load offset=16 (local.get $prog)))
        (br $next))
        ;; 4 lerp
        (call $lerp (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (i32.load offset=16 (local.get $prog)) (f32.load offset=20 (local.get $prog)))
        (br $next))
        ;; 5 axpy
        (call $axpy (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (f32.load offset=16 (local.get $prog)))
        (br $next))
        ;; 6 momentum
        (call $momentum (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (i32.load offset=16 (local.get $prog)) (f32.load offset=20 (local.get $prog)) (f32.load offset=24 (local.get $prog)))
        (br $next))
        ;; 7 adam
        (call $adam (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (i32.load offset=16 (local.get $prog)) (i32.load offset=20 (local.get $prog)) (f32.load offset=24 (local.get $prog))
          (f32.load offset=28 (local.get $prog)) (f32.load offset=32 (local.get $prog)) (f32.load offset=36 (local.get $prog)))
        (br $next))
        ;; 8 nudge
        (call $nudge (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (i32.load offset=16 (local.get $prog)) (i32.load offset=20 (local.get $prog)) (f32.load offset=24 (local.get $prog))
          (f32.load offset=28 (local.get $prog)))
        (br $next))
        ;; 9 row_change
        (call $row_change (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (i32.load offset=16 (local.get $prog)) (i32.load offset=20 (local.get $prog)) (i32.load offset=24 (local.get $prog)))
        (br $next))
        ;; 10 transpose
        (call $transpose (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (i32.load offset=16 (local.get $prog)) (i32.load offset=20 (local.get $prog)) (i32.load offset=24 (local.get $prog)))
        (br $next))
        ;; 11 copy
        (call $copy (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog)))
        (br $next))
        ;; 12 affine
        (call $affine (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (f32.load offset=12 (local.get $prog))
          (f32.load offset=16 (local.get $prog)))
        (br $next))
        ;; 13 colsum
        (call $colsum (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (i32.load offset=16 (local.get $prog)) (i32.load offset=20 (local.get $prog)) (f32.load offset=24 (local.get $prog)))
        (br $next))
        ;; 14 scaled_diff
        (call $scaled_diff (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (i32.load offset=16 (local.get $prog)) (f32.load offset=20 (local.get $prog)))
        (br $next))
        ;; 15 nonfinite
        (call $nonfinite (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog)))
        (br $next))
        ;; 16 gemm_sp
        (call $gemm_sp (i32.load offset=4 (local.get $prog)) (i32.load offset=8 (local.get $prog)) (i32.load offset=12 (local.get $prog))
          (i32.load offset=16 (local.get $prog)) (i32.load offset=20 (local.get $prog)) (i32.load offset=24 (local.get $prog))
          (i32.load offset=28 (local.get $prog)) (i32.load offset=32 (local.get $prog)) (i32.load offset=36 (local.get $prog))
          (i32.load offset=40 (local.get $prog)) (i32.load offset=44 (local.get $prog))))
      (local.set $prog (i32.add (local.get $prog) (i32.const 48)))
      (br $l)))
  )
)
