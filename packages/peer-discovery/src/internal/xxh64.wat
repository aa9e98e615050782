;; Rendezvous kernel: xxHash64 (seed 0) of key || "||" || peer for every peer, keeping the highest.
;;
;; Why WebAssembly: ownership runs once per task in the task pruner, and a per-peer call into a native
;; addon costs more than the hash itself. Here one call hashes every peer of a key in i64 arithmetic
;; (argmax), or every shard key for one peer (challenge). Both call one hash function ($xxh64), but for
;; the common case (key, "||" and peer under 32 bytes) argmax has the hash's short path inline, for one
;; peer and for two at once: V8 (Node 20) does not inline wasm calls, and that path reads its input
;; from two places (see argmax).
;; The primes are literals, not globals, which V8 would load on every use:
;;   P1 = 0x9E3779B185EBCA87  P2 = 0xC2B2AE3D27D4EB4F  P3 = 0x165667B19E3779F9
;;   P4 = 0x85EBCA77C2B2AE63  P5 = 0x27D4EB2F165667C5
;; `pnpm --filter @miroir/peer-discovery gen:wasm` compiles this file into xxh64Module.ts; a test
;; checks that the committed module matches this source.
;;
;; Memory layout (written by internal/xxh64.ts):
;;   table:    count entries of (u32 offset, u32 length), each pointing at one peer id's UTF-8 bytes
;;   variants: per peer, 8 copies of its id, the k-th starting k bytes into an 8-byte word (argmax)
;;   key:      the key's UTF-8 bytes and "||" (prefixLen bytes), then room for the longest peer id
;;             plus 8 bytes, because peer ids are moved a word at a time
(module
  (memory (export "memory") 1)

  ;; The score of the winner of the last argmax call.
  (global $bestScore (export "bestScore") (mut i64) (i64.const 0))

  ;; acc ^ round(0, value), then * P1 + P4: folds one stripe accumulator into the long-input hash.
  (func $mergeRound (param $acc i64) (param $value i64) (result i64)
    (i64.add
      (i64.mul
        (i64.xor
          (local.get $acc)
          (i64.mul
            (i64.rotl (i64.mul (local.get $value) (i64.const 0xC2B2AE3D27D4EB4F)) (i64.const 31))
            (i64.const 0x9E3779B185EBCA87)))
        (i64.const 0x9E3779B185EBCA87))
      (i64.const 0x85EBCA77C2B2AE63)))

  ;; xxHash64, seed 0, of the `len` bytes at `p`.
  (func $xxh64 (param $p i32) (param $len i32) (result i64)
    (local $end i32) (local $lastStripe i32)
    (local $h i64)
    (local $v1 i64) (local $v2 i64) (local $v3 i64) (local $v4 i64)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.ge_u (local.get $len) (i32.const 32))
      (then
        (local.set $lastStripe (i32.sub (local.get $end) (i32.const 32)))
        (local.set $v1 (i64.const 0x60EA27EEADC0B5D6)) ;; P1 + P2
        (local.set $v2 (i64.const 0xC2B2AE3D27D4EB4F)) ;; P2
        (local.set $v3 (i64.const 0))
        (local.set $v4 (i64.const 0x61C8864E7A143579)) ;; -P1
        (loop $stripes
          ;; round(v, word) = rotl(v + word * P2, 31) * P1
          (local.set $v1
            (i64.mul
              (i64.rotl
                (i64.add (local.get $v1) (i64.mul (i64.load (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F)))
                (i64.const 31))
              (i64.const 0x9E3779B185EBCA87)))
          (local.set $v2
            (i64.mul
              (i64.rotl
                (i64.add (local.get $v2) (i64.mul (i64.load offset=8 (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F)))
                (i64.const 31))
              (i64.const 0x9E3779B185EBCA87)))
          (local.set $v3
            (i64.mul
              (i64.rotl
                (i64.add (local.get $v3) (i64.mul (i64.load offset=16 (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F)))
                (i64.const 31))
              (i64.const 0x9E3779B185EBCA87)))
          (local.set $v4
            (i64.mul
              (i64.rotl
                (i64.add (local.get $v4) (i64.mul (i64.load offset=24 (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F)))
                (i64.const 31))
              (i64.const 0x9E3779B185EBCA87)))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (br_if $stripes (i32.le_u (local.get $p) (local.get $lastStripe))))
        (local.set $h
          (i64.add
            (i64.add
              (i64.rotl (local.get $v1) (i64.const 1))
              (i64.rotl (local.get $v2) (i64.const 7)))
            (i64.add
              (i64.rotl (local.get $v3) (i64.const 12))
              (i64.rotl (local.get $v4) (i64.const 18)))))
        (local.set $h (call $mergeRound (local.get $h) (local.get $v1)))
        (local.set $h (call $mergeRound (local.get $h) (local.get $v2)))
        (local.set $h (call $mergeRound (local.get $h) (local.get $v3)))
        (local.set $h (call $mergeRound (local.get $h) (local.get $v4))))
      (else
        (local.set $h (i64.const 0x27D4EB2F165667C5)))) ;; P5
    (local.set $h (i64.add (local.get $h) (i64.extend_i32_u (local.get $len))))
    ;; Remaining 8-byte words: h = rotl(h ^ round(0, word), 27) * P1 + P4
    (block $noMoreWords
      (loop $words
        (br_if $noMoreWords (i32.gt_u (i32.add (local.get $p) (i32.const 8)) (local.get $end)))
        (local.set $h
          (i64.add
            (i64.mul
              (i64.rotl
                (i64.xor
                  (local.get $h)
                  (i64.mul
                    (i64.rotl (i64.mul (i64.load (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F)) (i64.const 31))
                    (i64.const 0x9E3779B185EBCA87)))
                (i64.const 27))
              (i64.const 0x9E3779B185EBCA87))
            (i64.const 0x85EBCA77C2B2AE63)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $words)))
    ;; A remaining 4-byte word: h = rotl(h ^ (word * P1), 23) * P2 + P3
    (if (i32.le_u (i32.add (local.get $p) (i32.const 4)) (local.get $end))
      (then
        (local.set $h
          (i64.add
            (i64.mul
              (i64.rotl
                (i64.xor (local.get $h) (i64.mul (i64.load32_u (local.get $p)) (i64.const 0x9E3779B185EBCA87)))
                (i64.const 23))
              (i64.const 0xC2B2AE3D27D4EB4F))
            (i64.const 0x165667B19E3779F9)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))))
    ;; Remaining bytes: h = rotl(h ^ (byte * P5), 11) * P1
    (block $noMoreBytes
      (loop $bytes
        (br_if $noMoreBytes (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $h
          (i64.mul
            (i64.rotl
              (i64.xor (local.get $h) (i64.mul (i64.load8_u (local.get $p)) (i64.const 0x27D4EB2F165667C5)))
              (i64.const 11))
            (i64.const 0x9E3779B185EBCA87)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $bytes)))
    ;; Avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32
    (local.set $h
      (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 33))) (i64.const 0xC2B2AE3D27D4EB4F)))
    (local.set $h
      (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))) (i64.const 0x165667B19E3779F9)))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32))))
    (local.get $h))

  ;; Index in the table of the peer whose xxHash64(key || "||" || peer) is highest as an unsigned
  ;; number; its score is left in $bestScore. On a tie the lower index wins, so a table sorted by id
  ;; gives ties to the smallest id. Returns -1 when count is 0.
  ;;
  ;; `key` holds the key and "||" (`prefixLen` bytes, room for the longest peer and 8 more after them).
  ;; The peer is never moved byte by byte after the key: a load of words at other offsets than the
  ;; stores wrote waits for the stores to drain. Each peer has a copy that starts at the same offset in
  ;; a word as the key ends (`variants`: 8 copies per peer, one per offset, `variantStride` bytes each,
  ;; in table order), so the word where key and peer meet is the key's last bytes or'ed into the copy's
  ;; first word, and the words after it are the copy's. A short input (under 32 bytes, no stripes)
  ;; hashes the key's whole words from `key` and the rest from the copy, with the meeting word stored
  ;; into it; a long one is put after the key in whole words and hashed by $xxh64.
  ;;
  ;; Two neighbours in the table with ids of the same length (common: the table is sorted by id) are
  ;; hashed together: their states are equal up to the meeting word, and after it the two chains of
  ;; multiplications overlap, where one peer's chain alone keeps the CPU waiting on each result.
  ;; Over 24 short peers, moving each peer after the key cost 10–20% more than the copies, and hashing
  ;; one peer at a time 20–30% more than in pairs (A/B runs in one process).
  (func (export "argmax")
    (param $table i32) (param $count i32) (param $key i32) (param $prefixLen i32)
    (param $variants i32) (param $variantStride i32)
    (result i32)
    (local $i i32) (local $entry i32) (local $best i32)
    (local $keyWordsEnd i32) (local $offset i32) (local $peerLen i32) (local $len i32)
    (local $p i32) (local $q i32) (local $end i32) (local $copy i32)
    (local $keyTail i64) (local $peerBytes i64) (local $meeting i64)
    (local $h i64) (local $g i64) (local $top i64)
    (local.set $best (i32.const -1))
    (local.set $offset (i32.and (local.get $prefixLen) (i32.const 7)))
    (local.set $keyWordsEnd (i32.add (local.get $key) (i32.and (local.get $prefixLen) (i32.const -8))))
    ;; The bytes of the word where key and peer meet: the key's below `offset`, the peer's above.
    (local.set $peerBytes (i64.shl (i64.const -1) (i64.extend_i32_u (i32.shl (local.get $offset) (i32.const 3)))))
    (local.set $keyTail (i64.and (i64.load (local.get $keyWordsEnd)) (i64.xor (local.get $peerBytes) (i64.const -1))))
    (block $done
      (loop $peers
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        ;; Two peers of the same length at once, while both inputs are short: their hashes are the
        ;; same up to the meeting word, and after it their chains of multiplications overlap.
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $count))
          (then
            (local.set $entry (i32.add (local.get $table) (i32.shl (local.get $i) (i32.const 3))))
            (local.set $peerLen (i32.load offset=4 (local.get $entry)))
            (local.set $len (i32.add (local.get $prefixLen) (local.get $peerLen)))
            (if (i32.and
                  (i32.lt_u (local.get $len) (i32.const 32))
                  (i32.eq (local.get $peerLen) (i32.load offset=12 (local.get $entry))))
              (then
                (local.set $h (i64.add (i64.const 0x27D4EB2F165667C5) (i64.extend_i32_u (local.get $len)))) ;; P5 + len
                (local.set $p (local.get $key))
                (block $keyWordsDone
                  (loop $keyWords
                    (br_if $keyWordsDone (i32.ge_u (local.get $p) (local.get $keyWordsEnd)))
                    (local.set $h
                      (i64.add
                        (i64.mul
                          (i64.rotl
                            (i64.xor
                              (local.get $h)
                              (i64.mul
                                (i64.rotl (i64.mul (i64.load (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F)) (i64.const 31))
                                (i64.const 0x9E3779B185EBCA87)))
                            (i64.const 27))
                          (i64.const 0x9E3779B185EBCA87))
                        (i64.const 0x85EBCA77C2B2AE63)))
                    (local.set $p (i32.add (local.get $p) (i32.const 8)))
                    (br $keyWords)))
                (local.set $g (local.get $h))
                ;; Each copy with the key's last bytes put in front, hashed in lock step.
                (local.set $p
                  (i32.add
                    (local.get $variants)
                    (i32.mul (i32.add (i32.shl (local.get $i) (i32.const 3)) (local.get $offset)) (local.get $variantStride))))
                (local.set $q (i32.add (local.get $p) (i32.shl (local.get $variantStride) (i32.const 3))))
                (i64.store (local.get $p) (i64.or (i64.and (i64.load (local.get $p)) (local.get $peerBytes)) (local.get $keyTail)))
                (i64.store (local.get $q) (i64.or (i64.and (i64.load (local.get $q)) (local.get $peerBytes)) (local.get $keyTail)))
                (local.set $end (i32.add (local.get $p) (i32.add (local.get $offset) (local.get $peerLen))))
                (block $noMoreWords
                  (loop $words
                    (br_if $noMoreWords (i32.gt_u (i32.add (local.get $p) (i32.const 8)) (local.get $end)))
                    (local.set $h
                      (i64.add
                        (i64.mul
                          (i64.rotl
                            (i64.xor
                              (local.get $h)
                              (i64.mul
                                (i64.rotl (i64.mul (i64.load (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F)) (i64.const 31))
                                (i64.const 0x9E3779B185EBCA87)))
                            (i64.const 27))
                          (i64.const 0x9E3779B185EBCA87))
                        (i64.const 0x85EBCA77C2B2AE63)))
                    (local.set $g
                      (i64.add
                        (i64.mul
                          (i64.rotl
                            (i64.xor
                              (local.get $g)
                              (i64.mul
                                (i64.rotl (i64.mul (i64.load (local.get $q)) (i64.const 0xC2B2AE3D27D4EB4F)) (i64.const 31))
                                (i64.const 0x9E3779B185EBCA87)))
                            (i64.const 27))
                          (i64.const 0x9E3779B185EBCA87))
                        (i64.const 0x85EBCA77C2B2AE63)))
                    (local.set $p (i32.add (local.get $p) (i32.const 8)))
                    (local.set $q (i32.add (local.get $q) (i32.const 8)))
                    (br $words)))
                (if (i32.le_u (i32.add (local.get $p) (i32.const 4)) (local.get $end))
                  (then
                    (local.set $h
                      (i64.add
                        (i64.mul
                          (i64.rotl
                            (i64.xor (local.get $h) (i64.mul (i64.load32_u (local.get $p)) (i64.const 0x9E3779B185EBCA87)))
                            (i64.const 23))
                          (i64.const 0xC2B2AE3D27D4EB4F))
                        (i64.const 0x165667B19E3779F9)))
                    (local.set $g
                      (i64.add
                        (i64.mul
                          (i64.rotl
                            (i64.xor (local.get $g) (i64.mul (i64.load32_u (local.get $q)) (i64.const 0x9E3779B185EBCA87)))
                            (i64.const 23))
                          (i64.const 0xC2B2AE3D27D4EB4F))
                        (i64.const 0x165667B19E3779F9)))
                    (local.set $p (i32.add (local.get $p) (i32.const 4)))
                    (local.set $q (i32.add (local.get $q) (i32.const 4)))))
                (block $noMoreBytes
                  (loop $bytes
                    (br_if $noMoreBytes (i32.ge_u (local.get $p) (local.get $end)))
                    (local.set $h
                      (i64.mul
                        (i64.rotl
                          (i64.xor (local.get $h) (i64.mul (i64.load8_u (local.get $p)) (i64.const 0x27D4EB2F165667C5)))
                          (i64.const 11))
                        (i64.const 0x9E3779B185EBCA87)))
                    (local.set $g
                      (i64.mul
                        (i64.rotl
                          (i64.xor (local.get $g) (i64.mul (i64.load8_u (local.get $q)) (i64.const 0x27D4EB2F165667C5)))
                          (i64.const 11))
                        (i64.const 0x9E3779B185EBCA87)))
                    (local.set $p (i32.add (local.get $p) (i32.const 1)))
                    (local.set $q (i32.add (local.get $q) (i32.const 1)))
                    (br $bytes)))
                (local.set $h
                  (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 33))) (i64.const 0xC2B2AE3D27D4EB4F)))
                (local.set $g
                  (i64.mul (i64.xor (local.get $g) (i64.shr_u (local.get $g) (i64.const 33))) (i64.const 0xC2B2AE3D27D4EB4F)))
                (local.set $h
                  (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))) (i64.const 0x165667B19E3779F9)))
                (local.set $g
                  (i64.mul (i64.xor (local.get $g) (i64.shr_u (local.get $g) (i64.const 29))) (i64.const 0x165667B19E3779F9)))
                (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32))))
                (local.set $g (i64.xor (local.get $g) (i64.shr_u (local.get $g) (i64.const 32))))
                (if (i32.or (i32.eqz (local.get $i)) (i64.gt_u (local.get $h) (local.get $top)))
                  (then
                    (local.set $best (local.get $i))
                    (local.set $top (local.get $h))))
                (if (i64.gt_u (local.get $g) (local.get $top))
                  (then
                    (local.set $best (i32.add (local.get $i) (i32.const 1)))
                    (local.set $top (local.get $g))))
                (local.set $i (i32.add (local.get $i) (i32.const 2)))
                (br $peers)))))
        (local.set $entry (i32.add (local.get $table) (i32.shl (local.get $i) (i32.const 3))))
        (local.set $peerLen (i32.load offset=4 (local.get $entry)))
        (local.set $len (i32.add (local.get $prefixLen) (local.get $peerLen)))
        ;; The peer's copy at this offset in a word, and the word where key and peer meet.
        (local.set $copy
          (i32.add
            (local.get $variants)
            (i32.mul (i32.add (i32.shl (local.get $i) (i32.const 3)) (local.get $offset)) (local.get $variantStride))))
        (local.set $meeting
          (i64.or (i64.and (i64.load (local.get $copy)) (local.get $peerBytes)) (local.get $keyTail)))
        (local.set $end (i32.add (local.get $copy) (i32.add (local.get $offset) (local.get $peerLen))))
        (if (i32.lt_u (local.get $len) (i32.const 32))
          (then
            (local.set $h (i64.add (i64.const 0x27D4EB2F165667C5) (i64.extend_i32_u (local.get $len)))) ;; P5 + len
            ;; The words that are all key: h = rotl(h ^ round(0, word), 27) * P1 + P4
            (local.set $p (local.get $key))
            (block $keyWordsDone
              (loop $keyWords
                (br_if $keyWordsDone (i32.ge_u (local.get $p) (local.get $keyWordsEnd)))
                (local.set $h
                  (i64.add
                    (i64.mul
                      (i64.rotl
                        (i64.xor
                          (local.get $h)
                          (i64.mul
                            (i64.rotl (i64.mul (i64.load (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F)) (i64.const 31))
                            (i64.const 0x9E3779B185EBCA87)))
                        (i64.const 27))
                      (i64.const 0x9E3779B185EBCA87))
                    (i64.const 0x85EBCA77C2B2AE63)))
                (local.set $p (i32.add (local.get $p) (i32.const 8)))
                (br $keyWords)))
            ;; The rest from the copy, with the key's last bytes put in front.
            (i64.store (local.get $copy) (local.get $meeting))
            (local.set $p (local.get $copy))
            ;; Remaining 8-byte words: h = rotl(h ^ round(0, word), 27) * P1 + P4
            (block $noMoreWords
              (loop $words
                (br_if $noMoreWords (i32.gt_u (i32.add (local.get $p) (i32.const 8)) (local.get $end)))
                (local.set $h
                  (i64.add
                    (i64.mul
                      (i64.rotl
                        (i64.xor
                          (local.get $h)
                          (i64.mul
                            (i64.rotl (i64.mul (i64.load (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F)) (i64.const 31))
                            (i64.const 0x9E3779B185EBCA87)))
                        (i64.const 27))
                      (i64.const 0x9E3779B185EBCA87))
                    (i64.const 0x85EBCA77C2B2AE63)))
                (local.set $p (i32.add (local.get $p) (i32.const 8)))
                (br $words)))
            ;; A remaining 4-byte word: h = rotl(h ^ (word * P1), 23) * P2 + P3
            (if (i32.le_u (i32.add (local.get $p) (i32.const 4)) (local.get $end))
              (then
                (local.set $h
                  (i64.add
                    (i64.mul
                      (i64.rotl
                        (i64.xor (local.get $h) (i64.mul (i64.load32_u (local.get $p)) (i64.const 0x9E3779B185EBCA87)))
                        (i64.const 23))
                      (i64.const 0xC2B2AE3D27D4EB4F))
                    (i64.const 0x165667B19E3779F9)))
                (local.set $p (i32.add (local.get $p) (i32.const 4)))))
            ;; Remaining bytes: h = rotl(h ^ (byte * P5), 11) * P1
            (block $noMoreBytes
              (loop $bytes
                (br_if $noMoreBytes (i32.ge_u (local.get $p) (local.get $end)))
                (local.set $h
                  (i64.mul
                    (i64.rotl
                      (i64.xor (local.get $h) (i64.mul (i64.load8_u (local.get $p)) (i64.const 0x27D4EB2F165667C5)))
                      (i64.const 11))
                    (i64.const 0x9E3779B185EBCA87)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $bytes)))
            ;; Avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32
            (local.set $h
              (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 33))) (i64.const 0xC2B2AE3D27D4EB4F)))
            (local.set $h
              (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))) (i64.const 0x165667B19E3779F9)))
            (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32)))))
          (else
            ;; After the key in whole words: the meeting word, then the rest of the copy.
            (i64.store (local.get $keyWordsEnd) (local.get $meeting))
            (local.set $copy (i32.add (local.get $copy) (i32.const 8)))
            (local.set $p (i32.add (local.get $keyWordsEnd) (i32.const 8)))
            (block $copied
              (loop $copyWords
                (br_if $copied (i32.ge_u (local.get $copy) (local.get $end)))
                (i64.store (local.get $p) (i64.load (local.get $copy)))
                (local.set $p (i32.add (local.get $p) (i32.const 8)))
                (local.set $copy (i32.add (local.get $copy) (i32.const 8)))
                (br $copyWords)))
            (local.set $h (call $xxh64 (local.get $key) (local.get $len)))))
        (if (i32.or (i32.eqz (local.get $i)) (i64.gt_u (local.get $h) (local.get $top)))
          (then
            (local.set $best (local.get $i))
            (local.set $top (local.get $h))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $peers)))
    (global.set $bestScore (local.get $top))
    (local.get $best))

  ;; Shard keys against one challenger: for every shard s < count, the key is s in decimal, and the
  ;; challenger (`peerLen` bytes at `peer`, position `challenger` in the caller's list) takes the shard
  ;; when its xxHash64(key || "||" || peer) beats the score held in `scores` (u64 per shard), or when
  ;; the shard has no owner yet (-1 in `owners`, i32 per shard). Equal scores are left to the caller,
  ;; which breaks ties by id: their shards are written to `ties` (i32 each) and counted in the result.
  ;; The key is counted up in place in `buffer` (room for 7 digits, "||", the peer and 8 bytes), and
  ;; the peer is moved after it only when the key grows a digit: one call hashes every shard without
  ;; a round trip to JavaScript per key.
  (func (export "challenge")
    (param $peer i32) (param $peerLen i32) (param $count i32) (param $scores i32) (param $owners i32)
    (param $challenger i32) (param $buffer i32) (param $ties i32)
    (result i32)
    (local $shard i32) (local $digits i32) (local $tieCount i32) (local $d i32)
    (local $from i32) (local $to i32) (local $copyEnd i32)
    (local $h i64) (local $held i64) (local $owner i32) (local $slot i32)
    (local.set $digits (i32.const 1))
    (i32.store8 (local.get $buffer) (i32.const 0x30))
    (block $done
      (loop $shards
        (br_if $done (i32.ge_u (local.get $shard) (local.get $count)))
        ;; After a key that grew a digit (and before the first): "||" and the peer after the digits.
        (if (i32.eqz (i32.load8_u (i32.add (local.get $buffer) (local.get $digits))))
          (then
            (i32.store8 (i32.add (local.get $buffer) (local.get $digits)) (i32.const 0x7c))
            (i32.store8 offset=1 (i32.add (local.get $buffer) (local.get $digits)) (i32.const 0x7c))
            (local.set $from (local.get $peer))
            (local.set $copyEnd (i32.add (local.get $peer) (local.get $peerLen)))
            (local.set $to (i32.add (i32.add (local.get $buffer) (local.get $digits)) (i32.const 2)))
            (block $copied
              (loop $copy
                (br_if $copied (i32.ge_u (local.get $from) (local.get $copyEnd)))
                (i64.store (local.get $to) (i64.load (local.get $from)))
                (local.set $to (i32.add (local.get $to) (i32.const 8)))
                (local.set $from (i32.add (local.get $from) (i32.const 8)))
                (br $copy)))))
        (local.set $h
          (call $xxh64 (local.get $buffer) (i32.add (i32.add (local.get $digits) (i32.const 2)) (local.get $peerLen))))
        (local.set $slot (i32.add (local.get $owners) (i32.shl (local.get $shard) (i32.const 2))))
        (local.set $owner (i32.load (local.get $slot)))
        (local.set $held (i64.load (i32.add (local.get $scores) (i32.shl (local.get $shard) (i32.const 3)))))
        (if (i32.or (i32.lt_s (local.get $owner) (i32.const 0)) (i64.gt_u (local.get $h) (local.get $held)))
          (then
            (i64.store (i32.add (local.get $scores) (i32.shl (local.get $shard) (i32.const 3))) (local.get $h))
            (i32.store (local.get $slot) (local.get $challenger)))
          (else
            (if (i64.eq (local.get $h) (local.get $held))
              (then
                (i32.store (i32.add (local.get $ties) (i32.shl (local.get $tieCount) (i32.const 2))) (local.get $shard))
                (local.set $tieCount (i32.add (local.get $tieCount) (i32.const 1)))))))
        ;; The next key: add one to the decimal digits, carrying; all nines grow a digit ("99" -> "100").
        (local.set $d (local.get $digits))
        (block $counted
          (loop $carry
            (if (i32.eqz (local.get $d))
              (then
                ;; Every digit was a nine and is now a zero: a leading one, one more zero, and a zero
                ;; byte where "||" was, so that the peer is moved again.
                (i32.store8 (local.get $buffer) (i32.const 0x31))
                (i32.store8 (i32.add (local.get $buffer) (local.get $digits)) (i32.const 0x30))
                (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
                (i32.store8 (i32.add (local.get $buffer) (local.get $digits)) (i32.const 0))
                (br $counted)))
            (local.set $d (i32.sub (local.get $d) (i32.const 1)))
            (if (i32.eq (i32.load8_u (i32.add (local.get $buffer) (local.get $d))) (i32.const 0x39))
              (then
                (i32.store8 (i32.add (local.get $buffer) (local.get $d)) (i32.const 0x30))
                (br $carry)))
            (i32.store8 (i32.add (local.get $buffer) (local.get $d))
              (i32.add (i32.load8_u (i32.add (local.get $buffer) (local.get $d))) (i32.const 1)))))
        (local.set $shard (i32.add (local.get $shard) (i32.const 1)))
        (br $shards)))
    (local.get $tieCount))
)
