;; The record-id scan of LogVerifier (verify-log.ts, `hasTopLevelId`) as a WebAssembly kernel: verifying an
;; archive runs it once per record, and 16-byte SIMD steps over string contents make it about twice as fast
;; as the same loop in JavaScript. Compiled by `npm run wasm` into json-scan-module.ts (checked by a test).
;;
;; The caller copies a record (JSON text, UTF-8) into memory at offset 0 and calls topLevelIdValue(length).
(module
  (memory (export "memory") 1)

  ;; The offset of the value of the first key "id" of the outermost object, or -1 if there is none or that key
  ;; is not followed by a colon. One forward pass: strings are skipped whole (a backslash escapes the next
  ;; byte), brackets outside strings are counted, and a string is a key of the outermost object when it is at
  ;; depth 1 right after `{` or `,`.
  (func (export "topLevelIdValue") (param $length i32) (result i32)
    (local $at i32) (local $byte i32) (local $depth i32) (local $previous i32) (local $open i32) (local $mask i32)
    (block $none
      (loop $next
        (br_if $none (i32.ge_u (local.get $at) (local.get $length)))
        (local.set $byte (i32.load8_u (local.get $at)))
        (if (i32.eq (local.get $byte) (i32.const 0x22)) ;; "
          (then
            (local.set $open (local.get $at))
            (local.set $at (i32.add (local.get $at) (i32.const 1)))
            (block $closed
              (loop $inside
                ;; 16 bytes at a time while none of them is a quote or a backslash.
                (block $special
                  (loop $wide
                    (br_if $special (i32.gt_u (i32.add (local.get $at) (i32.const 16)) (local.get $length)))
                    (local.set $mask
                      (i8x16.bitmask
                        (v128.or
                          (i8x16.eq (v128.load (local.get $at)) (i8x16.splat (i32.const 0x22)))
                          (i8x16.eq (v128.load (local.get $at)) (i8x16.splat (i32.const 0x5c))))))
                    (br_if $special (local.get $mask))
                    (local.set $at (i32.add (local.get $at) (i32.const 16)))
                    (br $wide)))
                (if (local.get $mask)
                  (then
                    (local.set $at (i32.add (local.get $at) (i32.ctz (local.get $mask))))
                    (local.set $mask (i32.const 0))))
                ;; Then byte by byte: the closing quote ends the string, a backslash skips the byte after it.
                (br_if $none (i32.ge_u (local.get $at) (local.get $length)))
                (local.set $byte (i32.load8_u (local.get $at)))
                (br_if $closed (i32.eq (local.get $byte) (i32.const 0x22)))
                (local.set $at
                  (i32.add (local.get $at)
                    (select (i32.const 2) (i32.const 1) (i32.eq (local.get $byte) (i32.const 0x5c)))))
                (br $inside)))
            (local.set $at (i32.add (local.get $at) (i32.const 1)))
            ;; A key of the outermost object that is exactly "id" (0x69 0x64, read little-endian as 0x6469).
            (if (i32.and
                  (i32.and
                    (i32.eq (local.get $depth) (i32.const 1))
                    (i32.or (i32.eq (local.get $previous) (i32.const 0x7b)) (i32.eq (local.get $previous) (i32.const 0x2c))))
                  (i32.and
                    (i32.eq (i32.sub (local.get $at) (local.get $open)) (i32.const 4))
                    (i32.eq (i32.load16_u (i32.add (local.get $open) (i32.const 1))) (i32.const 0x6469))))
              (then
                (return
                  (select
                    (i32.add (local.get $at) (i32.const 1))
                    (i32.const -1)
                    (i32.and
                      (i32.lt_u (local.get $at) (local.get $length))
                      (i32.eq (i32.load8_u (local.get $at)) (i32.const 0x3a))))))) ;; :
            (local.set $previous (i32.const 0x22))
            (br $next)))
        (if (i32.or (i32.eq (local.get $byte) (i32.const 0x7b)) (i32.eq (local.get $byte) (i32.const 0x5b))) ;; { [
          (then (local.set $depth (i32.add (local.get $depth) (i32.const 1))))
          (else
            (if (i32.or (i32.eq (local.get $byte) (i32.const 0x7d)) (i32.eq (local.get $byte) (i32.const 0x5d))) ;; } ]
              (then (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))))))
        (local.set $previous (local.get $byte))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $next)))
    (i32.const -1)))
