;; Byte kernels of archive verification, in WebAssembly: verifying an archive runs them over every line, and
;; 16-byte SIMD steps over string contents and line ends make them several times faster than the same loops
;; in JavaScript. Compiled by `npm run wasm` into json-scan-module.ts (checked by a test).
;;
;; The caller copies bytes into memory at `free` or beyond and passes offsets: json-scan.ts for one record,
;; line-kernel.ts for a whole events object.
(module
  (memory (export "memory") 1)

  ;; The fixed pieces of an events line header (archive-layout.ts), between the parts that vary.
  (data (i32.const 0) "\22,\22leafHash\22:\22")   ;; `","leafHash":"`, 14 bytes
  (data (i32.const 16) "\22,\22leafIndex\22:")     ;; `","leafIndex":`, 14 bytes
  ;; The value of each byte as a lowercase hex digit, 0xff if it is not one.
  (data (i32.const 64) "\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\00\01\02\03\04\05\06\07\08\09\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\0a\0b\0c\0d\0e\0f\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff")
  (global (export "free") i32 (i32.const 320))

  ;; The offset of the value of the first key "id" of the outermost object in [$at, $end), or -1 if there is
  ;; none or that key is not followed by a colon. One forward pass: strings are skipped whole (a backslash
  ;; escapes the next byte), brackets outside strings are counted, and a string is a key of the outermost
  ;; object when it is at depth 1 right after `{` or `,`.
  (func $idValue (export "topLevelIdValue") (param $at i32) (param $end i32) (result i32)
    (local $byte i32) (local $depth i32) (local $previous i32) (local $open i32) (local $mask i32)
    (block $none
      (loop $next
        (br_if $none (i32.ge_u (local.get $at) (local.get $end)))
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
                    (br_if $special (i32.gt_u (i32.add (local.get $at) (i32.const 16)) (local.get $end)))
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
                (br_if $none (i32.ge_u (local.get $at) (local.get $end)))
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
                      (i32.lt_u (local.get $at) (local.get $end))
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
    (i32.const -1))

  ;; Whether the $length bytes at $a and at $b are the same (16 at a time, then one by one).
  (func $same (param $a i32) (param $b i32) (param $length i32) (result i32)
    (block $bytes
      (loop $wide
        (br_if $bytes (i32.lt_u (local.get $length) (i32.const 16)))
        (if (i32.eqz (i8x16.all_true (i8x16.eq (v128.load (local.get $a)) (v128.load (local.get $b)))))
          (then (return (i32.const 0))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (local.set $length (i32.sub (local.get $length) (i32.const 16)))
        (br $wide)))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $length)))
        (if (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b)))
          (then (return (i32.const 0))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $length (i32.sub (local.get $length) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; The offset of the first newline in [$at, $end), or -1.
  (func $newline (param $at i32) (param $end i32) (result i32)
    (local $mask i32)
    (block $bytes
      (loop $wide
        (br_if $bytes (i32.gt_u (i32.add (local.get $at) (i32.const 16)) (local.get $end)))
        (local.set $mask (i8x16.bitmask (i8x16.eq (v128.load (local.get $at)) (i8x16.splat (i32.const 0x0a)))))
        (if (local.get $mask) (then (return (i32.add (local.get $at) (i32.ctz (local.get $mask))))))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (br $wide)))
    (block $none
      (loop $next
        (br_if $none (i32.ge_u (local.get $at) (local.get $end)))
        (if (i32.eq (i32.load8_u (local.get $at)) (i32.const 0x0a)) (then (return (local.get $at))))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $next)))
    (i32.const -1))

  ;; The 64 lowercase hex digits at $at written as 32 bytes at $to; 0 if one is not such a digit.
  (func $hex32 (param $at i32) (param $to i32) (result i32)
    (local $end i32) (local $high i32) (local $low i32)
    (local.set $end (i32.add (local.get $to) (i32.const 32)))
    (loop $next
      (local.set $high (i32.load8_u offset=64 (i32.load8_u (local.get $at))))
      (local.set $low (i32.load8_u offset=64 (i32.load8_u offset=1 (local.get $at))))
      (if (i32.eq (i32.or (local.get $high) (local.get $low)) (i32.const 0xff)) (then (return (i32.const 0))))
      (i32.store8 (local.get $to) (i32.or (i32.shl (local.get $high) (i32.const 4)) (local.get $low)))
      (local.set $at (i32.add (local.get $at) (i32.const 2)))
      (local.set $to (i32.add (local.get $to) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $to) (local.get $end))))
    (i32.const 1))

  ;; The offset after the decimal digits at $at if they are exactly $value (no leading zero, at most 16
  ;; digits, so exact in an f64), else -1.
  (func $number (param $at i32) (param $end i32) (param $value f64) (result i32)
    (local $start i32) (local $read f64) (local $digit i32)
    (local.set $start (local.get $at))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $digit (i32.sub (i32.load8_u (local.get $at)) (i32.const 0x30)))
        (br_if $done (i32.gt_u (local.get $digit) (i32.const 9)))
        (local.set $read (f64.add (f64.mul (local.get $read) (f64.const 10)) (f64.convert_i32_u (local.get $digit))))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $next)))
    (if (i32.or
          (i32.or (i32.eq (local.get $at) (local.get $start)) (i32.gt_u (i32.sub (local.get $at) (local.get $start)) (i32.const 16)))
          (i32.or
            (i32.and (i32.gt_u (i32.sub (local.get $at) (local.get $start)) (i32.const 1)) (i32.eq (i32.load8_u (local.get $start)) (i32.const 0x30)))
            (f64.ne (local.get $read) (local.get $value))))
      (then (return (i32.const -1))))
    (local.get $at))

  ;; Checks the next $count lines of an events object, from $at (a line start) to at most $end, against the
  ;; lines the archiver writes for leaves $leaf, $leaf + 1, …: each must be exactly
  ;;   head  id  `","leafHash":"`  64 lowercase hex  `","leafIndex":`  leaf  tail  record  `}` newline
  ;; where head is `{"appendStart":N,"eventId":"` ($head, $headLength), tail is `,"origin":"…","record":{`
  ;; ($tail, $tailLength; its `{` opens the record) and the ids are read from $ids to $idsEnd, each followed
  ;; by a quote and made of printable ASCII other than `"` and `\` (so JSON writes it as it is; any other id,
  ;; or one with a quote that shifts the list, fails). The record's own id (its first top-level key "id", as
  ;; $idValue finds it) must be that id as a JSON string, followed by `,` or `}`.
  ;;
  ;; For line i it writes at $out + 16i the offsets of the leaf input (from, end: 0x00 then the record, the
  ;; 0x00 written over the colon before the record) and a 64-bit FNV-1a hash of the id, and at $stored + 32i
  ;; the stored leaf hash as bytes. Returns the offset after the last line read, or -1 if any line differs
  ;; (the caller then verifies the archive on the path that parses every line and names what differs).
  (func (export "checkLines")
    (param $at i32) (param $end i32) (param $count i32) (param $leaf f64)
    (param $head i32) (param $headLength i32) (param $tail i32) (param $tailLength i32)
    (param $ids i32) (param $idsEnd i32) (param $out i32) (param $stored i32)
    (result i32)
    (local $line i32) (local $idLength i32) (local $char i32) (local $hash i64)
    (local $record i32) (local $newline i32) (local $value i32)
    (block $fail
      (loop $lines
        (if (i32.ge_u (local.get $line) (local.get $count))
          (then (return (select (local.get $at) (i32.const -1) (i32.eq (local.get $ids) (local.get $idsEnd))))))
        ;; The expected id: its length and hash, its bytes checked.
        (local.set $idLength (i32.const 0))
        (local.set $hash (i64.const 0xcbf29ce484222325))
        (block $idEnd
          (loop $idBytes
            (br_if $fail (i32.ge_u (i32.add (local.get $ids) (local.get $idLength)) (local.get $idsEnd)))
            (local.set $char (i32.load8_u (i32.add (local.get $ids) (local.get $idLength))))
            (br_if $idEnd (i32.eq (local.get $char) (i32.const 0x22)))
            (br_if $fail (i32.or (i32.lt_u (local.get $char) (i32.const 0x20)) (i32.gt_u (local.get $char) (i32.const 0x7e))))
            (br_if $fail (i32.eq (local.get $char) (i32.const 0x5c)))
            (local.set $hash
              (i64.mul (i64.xor (local.get $hash) (i64.extend_i32_u (local.get $char))) (i64.const 0x100000001b3)))
            (local.set $idLength (i32.add (local.get $idLength) (i32.const 1)))
            (br $idBytes)))
        ;; The header, piece by piece; the fixed-length part is bounds-checked once.
        (br_if $fail
          (i32.gt_u
            (i32.add (local.get $at)
              (i32.add (i32.add (local.get $headLength) (local.get $idLength)) (i32.add (i32.const 92) (local.get $tailLength))))
            (local.get $end)))
        (br_if $fail (i32.eqz (call $same (local.get $at) (local.get $head) (local.get $headLength))))
        (local.set $at (i32.add (local.get $at) (local.get $headLength)))
        (br_if $fail (i32.eqz (call $same (local.get $at) (local.get $ids) (local.get $idLength))))
        (local.set $at (i32.add (local.get $at) (local.get $idLength)))
        (br_if $fail (i32.eqz (call $same (local.get $at) (i32.const 0) (i32.const 14))))
        (br_if $fail (i32.eqz (call $hex32 (i32.add (local.get $at) (i32.const 14)) (i32.add (local.get $stored) (i32.shl (local.get $line) (i32.const 5))))))
        (local.set $at (i32.add (local.get $at) (i32.const 78)))
        (br_if $fail (i32.eqz (call $same (local.get $at) (i32.const 16) (i32.const 14))))
        (local.set $at (call $number (i32.add (local.get $at) (i32.const 14)) (local.get $end) (local.get $leaf)))
        (br_if $fail (i32.lt_s (local.get $at) (i32.const 0)))
        (br_if $fail (i32.gt_u (i32.add (local.get $at) (local.get $tailLength)) (local.get $end)))
        (br_if $fail (i32.eqz (call $same (local.get $at) (local.get $tail) (local.get $tailLength))))
        ;; The record: from the tail's `{` to before the line's final `}`.
        (local.set $record (i32.sub (i32.add (local.get $at) (local.get $tailLength)) (i32.const 1)))
        (local.set $newline (call $newline (i32.add (local.get $record) (i32.const 1)) (local.get $end)))
        (br_if $fail (i32.lt_s (local.get $newline) (i32.const 0)))
        (br_if $fail (i32.ne (i32.load8_u (i32.sub (local.get $newline) (i32.const 1))) (i32.const 0x7d)))
        (br_if $fail (i32.le_u (i32.sub (local.get $newline) (i32.const 1)) (local.get $record)))
        ;; Its own id: `"`, the id, `"`, then `,` or `}` inside the record.
        (local.set $value (call $idValue (local.get $record) (i32.sub (local.get $newline) (i32.const 1))))
        (br_if $fail (i32.lt_s (local.get $value) (i32.const 0)))
        (br_if $fail
          (i32.ge_u (i32.add (local.get $value) (i32.add (local.get $idLength) (i32.const 2))) (i32.sub (local.get $newline) (i32.const 1))))
        (br_if $fail (i32.ne (i32.load8_u (local.get $value)) (i32.const 0x22)))
        (br_if $fail (i32.eqz (call $same (i32.add (local.get $value) (i32.const 1)) (local.get $ids) (local.get $idLength))))
        (local.set $value (i32.add (local.get $value) (i32.add (local.get $idLength) (i32.const 1))))
        (br_if $fail (i32.ne (i32.load8_u (local.get $value)) (i32.const 0x22)))
        (local.set $char (i32.load8_u (i32.add (local.get $value) (i32.const 1))))
        (br_if $fail (i32.and (i32.ne (local.get $char) (i32.const 0x2c)) (i32.ne (local.get $char) (i32.const 0x7d))))
        ;; The leaf input is 0x00 || record: the prefix goes over the colon just checked.
        (i32.store8 (i32.sub (local.get $record) (i32.const 1)) (i32.const 0))
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $line) (i32.const 4))) (i32.sub (local.get $record) (i32.const 1)))
        (i32.store offset=4 (i32.add (local.get $out) (i32.shl (local.get $line) (i32.const 4))) (i32.sub (local.get $newline) (i32.const 1)))
        (i64.store offset=8 (i32.add (local.get $out) (i32.shl (local.get $line) (i32.const 4))) (local.get $hash))
        (local.set $ids (i32.add (local.get $ids) (i32.add (local.get $idLength) (i32.const 1))))
        (local.set $at (i32.add (local.get $newline) (i32.const 1)))
        (local.set $leaf (f64.add (local.get $leaf) (f64.const 1)))
        (local.set $line (i32.add (local.get $line) (i32.const 1)))
        (br $lines)))
    (i32.const -1))

  ;; The first i < $count where the 32 bytes at $a + 32i and $b + 32i differ, or $count.
  (func (export "firstDifferentHash") (param $a i32) (param $b i32) (param $count i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (br_if $done (i32.eqz (call $same (local.get $a) (local.get $b) (i32.const 32))))
        (local.set $a (i32.add (local.get $a) (i32.const 32)))
        (local.set $b (i32.add (local.get $b) (i32.const 32)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $i)))
