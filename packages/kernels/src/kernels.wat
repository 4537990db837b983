;; eqprop's fused CPU kernels: float32 on this module's own memory, 128-bit SIMD, no FMA (not in
;; baseline wasm). Pointers are byte offsets, sizes element counts. Assembled by
;; scripts/build-wasm.mjs into src/kernels-wasm.ts (committed: no toolchain at install time).
(module
  (memory (export "memory") 1)

  ;; c[m×n] = init[m×n] + a[m×k]·b[k×n] (row-major; init 0: none; init may be c). n % 4 == 0.
  ;; Four accumulators of 4 columns per row in registers, each b row read once per 16 columns.
  (func (export "mm_nn") (param $a i32) (param $b i32) (param $init i32) (param $c i32)
        (param $m i32) (param $n i32) (param $k i32)
    (local $i i32) (local $j i32) (local $p i32) (local $arow i32) (local $bp i32)
    (local $s v128) (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $n16 i32) (local $nb i32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n16 (i32.and (local.get $n) (i32.const -16)))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $arow (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $k)) (i32.const 2))))
      (local.set $j (i32.const 0))
      ;; 16 columns at a time
      (block $d16 (loop $c16
        (br_if $d16 (i32.ge_u (local.get $j) (local.get $n16)))
        (if (local.get $init)
          (then
            (local.set $bp (i32.add (local.get $init) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2))))
            (local.set $x0 (v128.load offset=0 (local.get $bp)))
            (local.set $x1 (v128.load offset=16 (local.get $bp)))
            (local.set $x2 (v128.load offset=32 (local.get $bp)))
            (local.set $x3 (v128.load offset=48 (local.get $bp))))
          (else
            (local.set $x0 (v128.const i32x4 0 0 0 0)) (local.set $x1 (v128.const i32x4 0 0 0 0))
            (local.set $x2 (v128.const i32x4 0 0 0 0)) (local.set $x3 (v128.const i32x4 0 0 0 0))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $p (i32.const 0))
        (block $dp (loop $lp
          (br_if $dp (i32.ge_u (local.get $p) (local.get $k)))
          (local.set $s (f32x4.splat (f32.load (i32.add (local.get $arow) (i32.shl (local.get $p) (i32.const 2))))))
          (local.set $x0 (f32x4.add (local.get $x0) (f32x4.mul (local.get $s) (v128.load offset=0 (local.get $bp)))))
          (local.set $x1 (f32x4.add (local.get $x1) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $bp)))))
          (local.set $x2 (f32x4.add (local.get $x2) (f32x4.mul (local.get $s) (v128.load offset=32 (local.get $bp)))))
          (local.set $x3 (f32x4.add (local.get $x3) (f32x4.mul (local.get $s) (v128.load offset=48 (local.get $bp)))))
          (local.set $bp (i32.add (local.get $bp) (local.get $nb)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $lp)))
        (local.set $bp (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2))))
        (v128.store offset=0 (local.get $bp) (local.get $x0))
        (v128.store offset=16 (local.get $bp) (local.get $x1))
        (v128.store offset=32 (local.get $bp) (local.get $x2))
        (v128.store offset=48 (local.get $bp) (local.get $x3))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $c16)))
      ;; the rest, 4 columns at a time
      (block $d4 (loop $c4
        (br_if $d4 (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $x0 (if (result v128) (local.get $init)
          (then (v128.load (i32.add (local.get $init) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2)))))
          (else (v128.const i32x4 0 0 0 0))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $p (i32.const 0))
        (block $dq (loop $lq
          (br_if $dq (i32.ge_u (local.get $p) (local.get $k)))
          (local.set $x0 (f32x4.add (local.get $x0)
            (f32x4.mul (f32x4.splat (f32.load (i32.add (local.get $arow) (i32.shl (local.get $p) (i32.const 2)))))
                       (v128.load (local.get $bp)))))
          (local.set $bp (i32.add (local.get $bp) (local.get $nb)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $lq)))
        (v128.store (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2))) (local.get $x0))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $c4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows)))
  )

  ;; c[m×n] = init[m×n] + a[m×k]·bt[n×k]ᵀ (init 0: none; init may be c): dot products along k (k % 4 == 0), two rows of bt at once.
  (func (export "mm_nt") (param $a i32) (param $bt i32) (param $init i32) (param $c i32)
        (param $m i32) (param $n i32) (param $k i32)
    (local $i i32) (local $j i32) (local $p i32) (local $arow i32) (local $b0 i32) (local $b1 i32)
    (local $x0 v128) (local $x1 v128) (local $av v128) (local $kb i32) (local $out i32) (local $v f32)
    (local.set $kb (i32.shl (local.get $k) (i32.const 2)))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $arow (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $kb))))
      (local.set $out (i32.add (local.get $c) (i32.shl (i32.mul (local.get $i) (local.get $n)) (i32.const 2))))
      (local.set $j (i32.const 0))
      (block $dj (loop $lj
        (br_if $dj (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $b0 (i32.add (local.get $bt) (i32.mul (local.get $j) (local.get $kb))))
        ;; the second row: the next one, or the same one again for an odd last row
        (local.set $b1 (select (i32.add (local.get $b0) (local.get $kb)) (local.get $b0)
          (i32.lt_u (i32.add (local.get $j) (i32.const 1)) (local.get $n))))
        (local.set $x0 (v128.const i32x4 0 0 0 0))
        (local.set $x1 (v128.const i32x4 0 0 0 0))
        (local.set $p (i32.const 0))
        (block $dp (loop $lp
          (br_if $dp (i32.ge_u (local.get $p) (local.get $kb)))
          (local.set $av (v128.load (i32.add (local.get $arow) (local.get $p))))
          (local.set $x0 (f32x4.add (local.get $x0) (f32x4.mul (local.get $av) (v128.load (i32.add (local.get $b0) (local.get $p))))))
          (local.set $x1 (f32x4.add (local.get $x1) (f32x4.mul (local.get $av) (v128.load (i32.add (local.get $b1) (local.get $p))))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $lp)))
        (local.set $v (call $hsum (local.get $x0)))
        (if (local.get $init) (then (local.set $v (f32.add (local.get $v) (f32.load (i32.sub (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (i32.sub (local.get $c) (local.get $init))))))))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (local.get $v))
        (if (i32.lt_u (i32.add (local.get $j) (i32.const 1)) (local.get $n))
          (then
            (local.set $v (call $hsum (local.get $x1)))
            (if (local.get $init) (then (local.set $v (f32.add (local.get $v) (f32.load (i32.sub (i32.add (local.get $out) (i32.shl (i32.add (local.get $j) (i32.const 1)) (i32.const 2))) (i32.sub (local.get $c) (local.get $init))))))))
            (f32.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $j) (i32.const 1)) (i32.const 2))) (local.get $v))))
        (local.set $j (i32.add (local.get $j) (i32.const 2)))
        (br $lj)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows)))
  )

  (func $hsum (param $x v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $x)) (f32x4.extract_lane 1 (local.get $x)))
      (f32.add (f32x4.extract_lane 2 (local.get $x)) (f32x4.extract_lane 3 (local.get $x)))))

;; e^x for x in [−87, 87] (clamped; pmin/pmax, one instruction each, keep a NaN as the first operand): x = n·ln2 + r, |r| ≤ ln2/2, 2^n in the exponent bits,
  ;; e^r by its degree-7 Taylor polynomial (truncation < 1e-8 relative: float32 rounding dominates). n is
  ;; rounded by adding 1.5·2^23 + 127 (its low mantissa bits are then n + 127, the biased
  ;; exponent): no rounding or conversion instruction, which V8 emulates in several on x64.
  (func $exp4 (param $x v128) (result v128)
    (local $t v128) (local $n v128) (local $r v128) (local $p v128)
    (local.set $x (f32x4.pmin (f32x4.pmax (local.get $x) (v128.const f32x4 -87 -87 -87 -87)) (v128.const f32x4 87 87 87 87)))
    (local.set $t (f32x4.add (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))
                             (v128.const f32x4 12583039 12583039 12583039 12583039)))
    (local.set $n (f32x4.sub (local.get $t) (v128.const f32x4 12583039 12583039 12583039 12583039)))
    ;; r = x − n·ln2 in two parts (Cody–Waite): ln2 = 0.693359375 − 2.12194440e-4
    (local.set $r (f32x4.sub (local.get $x) (f32x4.mul (local.get $n) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
    (local.set $r (f32x4.add (local.get $r) (f32x4.mul (local.get $n) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4))))
    (local.set $p (v128.const f32x4 1.9841270e-4 1.9841270e-4 1.9841270e-4 1.9841270e-4))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.3888889e-3 1.3888889e-3 1.3888889e-3 1.3888889e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.3333333e-3 8.3333333e-3 8.3333333e-3 8.3333333e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.1666667e-2 4.1666667e-2 4.1666667e-2 4.1666667e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.16666667 0.16666667 0.16666667 0.16666667)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
    (f32x4.mul (local.get $p) (i32x4.shl (local.get $t) (i32.const 23))))

  ;; In place over len (% 4 == 0) values z: activation 1 = logistic 1/(1+e^−z), 2 = clip(z, 0, 1).
  (func (export "activate") (param $z i32) (param $len i32) (param $kind i32)
    (local $end i32) (local $v v128)
    (local.set $end (i32.add (local.get $z) (i32.shl (local.get $len) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $z) (local.get $end)))
      (local.set $v (v128.load (local.get $z)))
      (if (i32.eq (local.get $kind) (i32.const 1))
        (then (local.set $v (f32x4.div (v128.const f32x4 1 1 1 1)
                (f32x4.add (v128.const f32x4 1 1 1 1) (call $exp4 (f32x4.neg (local.get $v)))))))
        (else (local.set $v (f32x4.pmin (f32x4.pmax (local.get $v) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))))
      (v128.store (local.get $z) (local.get $v))
      (local.set $z (i32.add (local.get $z) (i32.const 16)))
      (br $l)))
  )

;; out = s·(1 − eps) + t·eps over len (% 4 == 0) values: a damped fixed-point step.
  (func (export "lerp") (param $out i32) (param $s i32) (param $t i32) (param $len i32) (param $eps f32)
    (local $i i32) (local $end i32) (local $A v128) (local $E v128)
    (local.set $A (f32x4.splat (f32.sub (f32.const 1) (local.get $eps))))
    (local.set $E (f32x4.splat (local.get $eps)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (v128.store (i32.add (local.get $out) (local.get $i))
        (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $s) (local.get $i))) (local.get $A))
                   (f32x4.mul (v128.load (i32.add (local.get $t) (local.get $i))) (local.get $E))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
  )

  ;; y ← y + a·x over len (% 4 == 0) values: SGD (a = −lr) and weight decay (g ← g + wd·p).
  (func (export "axpy") (param $y i32) (param $x i32) (param $len i32) (param $a f32)
    (local $i i32) (local $end i32) (local $A v128)
    (local.set $A (f32x4.splat (local.get $a)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (v128.store (i32.add (local.get $y) (local.get $i))
        (f32x4.add (v128.load (i32.add (local.get $y) (local.get $i)))
                   (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $i))) (local.get $A))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
  )

  ;; Heavy-ball momentum: s ← mom·s + g; p ← p − lr·s.
  (func (export "momentum") (param $p i32) (param $g i32) (param $s i32) (param $len i32) (param $mom f32) (param $lr f32)
    (local $i i32) (local $end i32) (local $sv v128) (local $M v128) (local $R v128)
    (local.set $M (f32x4.splat (local.get $mom)))
    (local.set $R (f32x4.splat (local.get $lr)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $sv (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $s) (local.get $i))) (local.get $M))
                                (v128.load (i32.add (local.get $g) (local.get $i)))))
      (v128.store (i32.add (local.get $s) (local.get $i)) (local.get $sv))
      (v128.store (i32.add (local.get $p) (local.get $i))
        (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $i))) (f32x4.mul (local.get $sv) (local.get $R))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
  )

  ;; Adam on len (% 4 == 0) parameters, m and v stored divided by (1−β1) and (1−β2) as in
  ;; @eqprop/learning's Optimizer: m ← b1·m + g; v ← b2·v + g²; p ← p − step·m/(√v + eps).
  (func (export "adam") (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $len i32)
        (param $b1 f32) (param $b2 f32) (param $step f32) (param $eps f32)
    (local $i i32) (local $end i32) (local $gv v128) (local $mv v128) (local $vv v128)
    (local $B1 v128) (local $B2 v128) (local $S v128) (local $E v128)
    (local.set $B1 (f32x4.splat (local.get $b1))) (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $S (f32x4.splat (local.get $step))) (local.set $E (f32x4.splat (local.get $eps)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $gv (v128.load (i32.add (local.get $g) (local.get $i))))
      (local.set $mv (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $i))) (local.get $B1)) (local.get $gv)))
      (local.set $vv (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $i))) (local.get $B2)) (f32x4.mul (local.get $gv) (local.get $gv))))
      (v128.store (i32.add (local.get $m) (local.get $i)) (local.get $mv))
      (v128.store (i32.add (local.get $v) (local.get $i)) (local.get $vv))
      (v128.store (i32.add (local.get $p) (local.get $i))
        (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $i)))
          (f32x4.mul (f32x4.div (local.get $mv) (f32x4.add (f32x4.sqrt (local.get $vv)) (local.get $E))) (local.get $S))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
  )
)
