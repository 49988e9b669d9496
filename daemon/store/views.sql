-- The views of schema version 2: the packed formats (docs/store.md,
-- "Packed formats") decoded in SQL, for `yardwatch` and for ad-hoc queries.
-- Compiled into the daemon (cmake/embed.cmake) and run by the migration
-- from version 1 to 2. The C side of the same formats is in journal.c and
-- chunks.c.
--
-- How they read the blobs. SQLite has no function that reads one byte of a
-- blob, so a byte's value is found as its position in bytemap.x, the blob of
-- the 256 bytes 0x00 .. 0xFF:
--     instr(b.x, substr(blob, p, 1)) - 1         (p counts from 1)
-- Numbers are big-endian: an integer is ((byte1 * 256 + byte2) * 256 + ...).
-- An IEEE 754 value is sign * mantissa * 2^exponent, computed in integers
-- (exact) and one multiplication by a power of two (exact):
--     float32: sign bit, 8 exponent bits, 23 mantissa bits, bias 127
--     float64: sign bit, 11 exponent bits, 52 mantissa bits, bias 1023
-- (exponent 0: subnormal, no implicit leading 1). nums (0 .. 4095) gives one
-- row per entry: k.i is the entry's position in its chunk or section.
--
-- Each view is written in layers, read inside out: the entries (rows and
-- byte offsets), their bytes, the numbers made of the bytes, the columns.
-- SQLite flattens the layers, so each view runs as plain scans of journal
-- or chunks joined with nums and bytemap. The journal views repeat their
-- byte layer in each UNION ALL arm (one arm per section) on purpose: with
-- one shared layer over a UNION ALL of the sections' entries, SQLite runs
-- that union as a co-routine that copies each slot's blob per entry, and
-- the command line's sums over journal_polls took three times as long.


-- chunk_readings: one row per reading of the archive.
-- A chunk (point_id, t0) holds n readings of one quality: ts is n 4-byte
-- offsets from t0; vals n float32 (4 bytes each) or float64 (8 bytes each),
-- or NULL for a run of bad or stale readings.
CREATE VIEW chunk_readings AS
SELECT
  point_id,
  t0 + dt AS ts,
  CASE
    WHEN vals IS NULL THEN NULL
    WHEN length(vals) = 4 * n THEN
      f4_sign * CASE
                  WHEN f4_exp = 0 THEN f4_mant * pow(2, -149)
                  ELSE (f4_mant + 8388608) * pow(2, f4_exp - 150)
                END
    ELSE
      f8_sign * CASE
                  WHEN f8_exp = 0 THEN f8_mant * pow(2, -1074)
                  ELSE (f8_mant + 4503599627370496) * pow(2, f8_exp - 1075)
                END
  END AS value,
  quality,
  t0 AS chunk_t0,
  t1 AS chunk_t1,
  n AS chunk_n,
  pos
FROM (
  -- the numbers of reading pos
  SELECT
    point_id, t0, t1, n, quality, vals, pos,
    ((dt1 * 256 + dt2) * 256 + dt3) * 256 + dt4 AS dt,
    CASE WHEN f4_1 >= 128 THEN -1.0 ELSE 1.0 END AS f4_sign,
    (f4_1 % 128) * 2 + f4_2 / 128 AS f4_exp,
    ((f4_2 % 128) * 256 + f4_3) * 256 + f4_4 AS f4_mant,
    CASE WHEN f8_1 >= 128 THEN -1.0 ELSE 1.0 END AS f8_sign,
    (f8_1 % 128) * 16 + f8_2 / 16 AS f8_exp,
    ((((((f8_2 % 16) * 256 + f8_3) * 256 + f8_4) * 256 + f8_5) * 256 + f8_6) * 256
      + f8_7) * 256 + f8_8 AS f8_mant
  FROM (
    -- the bytes of reading pos: its time offset, and its value as float32
    -- or as float64 (only the one of the chunk's width is used)
    SELECT
      c.point_id, c.t0, c.t1, c.n, c.quality, c.vals, k.i AS pos,
      instr(b.x, substr(c.ts, 4 * k.i + 1, 1)) - 1 AS dt1,
      instr(b.x, substr(c.ts, 4 * k.i + 2, 1)) - 1 AS dt2,
      instr(b.x, substr(c.ts, 4 * k.i + 3, 1)) - 1 AS dt3,
      instr(b.x, substr(c.ts, 4 * k.i + 4, 1)) - 1 AS dt4,
      instr(b.x, substr(c.vals, 4 * k.i + 1, 1)) - 1 AS f4_1,
      instr(b.x, substr(c.vals, 4 * k.i + 2, 1)) - 1 AS f4_2,
      instr(b.x, substr(c.vals, 4 * k.i + 3, 1)) - 1 AS f4_3,
      instr(b.x, substr(c.vals, 4 * k.i + 4, 1)) - 1 AS f4_4,
      instr(b.x, substr(c.vals, 8 * k.i + 1, 1)) - 1 AS f8_1,
      instr(b.x, substr(c.vals, 8 * k.i + 2, 1)) - 1 AS f8_2,
      instr(b.x, substr(c.vals, 8 * k.i + 3, 1)) - 1 AS f8_3,
      instr(b.x, substr(c.vals, 8 * k.i + 4, 1)) - 1 AS f8_4,
      instr(b.x, substr(c.vals, 8 * k.i + 5, 1)) - 1 AS f8_5,
      instr(b.x, substr(c.vals, 8 * k.i + 6, 1)) - 1 AS f8_6,
      instr(b.x, substr(c.vals, 8 * k.i + 7, 1)) - 1 AS f8_7,
      instr(b.x, substr(c.vals, 8 * k.i + 8, 1)) - 1 AS f8_8
    FROM chunks c JOIN nums k ON k.i < c.n, bytemap b
  )
);


-- journal_readings: one row per reading in the live journal slots (seq
-- after meta.journal_base). A slot's data holds its entries in sections, in
-- this order:
--   n4 good readings, float32-exact  11 bytes: point id (3), dt (4), float32 (4)
--   n8 good readings                 15 bytes: point id (3), dt (4), float64 (8)
--   nq bad or stale readings          8 bytes: point id (3), dt (4), quality (1)
--   nok, nerr polls                  (journal_polls)
-- dt is the offset from the slot's t0; pos numbers the readings of a slot.
CREATE VIEW journal_readings AS
-- the float32 section
SELECT
  point_id,
  t0 + dt AS ts,
  f4_sign * CASE
              WHEN f4_exp = 0 THEN f4_mant * pow(2, -149)
              ELSE (f4_mant + 8388608) * pow(2, f4_exp - 150)
            END AS value,
  0 AS quality,
  seq,
  i AS pos
FROM (
  -- the numbers of entry i
  SELECT
    t0, seq, i,
    (id1 * 256 + id2) * 256 + id3 AS point_id,
    ((dt1 * 256 + dt2) * 256 + dt3) * 256 + dt4 AS dt,
    CASE WHEN v1 >= 128 THEN -1.0 ELSE 1.0 END AS f4_sign,
    (v1 % 128) * 2 + v2 / 128 AS f4_exp,
    ((v2 % 128) * 256 + v3) * 256 + v4 AS f4_mant
  FROM (
    -- its bytes
    SELECT
      t0, seq, i,
      instr(b.x, substr(data, o + 1, 1)) - 1 AS id1, instr(b.x, substr(data, o + 2, 1)) - 1 AS id2,
      instr(b.x, substr(data, o + 3, 1)) - 1 AS id3,
      instr(b.x, substr(data, o + 4, 1)) - 1 AS dt1, instr(b.x, substr(data, o + 5, 1)) - 1 AS dt2,
      instr(b.x, substr(data, o + 6, 1)) - 1 AS dt3, instr(b.x, substr(data, o + 7, 1)) - 1 AS dt4,
      instr(b.x, substr(data, o + 8, 1)) - 1 AS v1, instr(b.x, substr(data, o + 9, 1)) - 1 AS v2,
      instr(b.x, substr(data, o + 10, 1)) - 1 AS v3, instr(b.x, substr(data, o + 11, 1)) - 1 AS v4
    FROM (
      -- the entries: the i-th of the section starts at byte offset o
      SELECT j.t0, j.seq, j.data, k.i,
             11 * k.i AS o
      FROM journal j JOIN nums k ON k.i < j.n4
      WHERE j.seq > (SELECT value FROM meta WHERE key = 'journal_base')
    ), bytemap b
  )
)
UNION ALL
-- the float64 section
SELECT
  point_id,
  t0 + dt,
  f8_sign * CASE
              WHEN f8_exp = 0 THEN f8_mant * pow(2, -1074)
              ELSE (f8_mant + 4503599627370496) * pow(2, f8_exp - 1075)
            END,
  0,
  seq,
  n4 + i
FROM (
  SELECT
    t0, seq, n4, i,
    (id1 * 256 + id2) * 256 + id3 AS point_id,
    ((dt1 * 256 + dt2) * 256 + dt3) * 256 + dt4 AS dt,
    CASE WHEN v1 >= 128 THEN -1.0 ELSE 1.0 END AS f8_sign,
    (v1 % 128) * 16 + v2 / 16 AS f8_exp,
    ((((((v2 % 16) * 256 + v3) * 256 + v4) * 256 + v5) * 256 + v6) * 256
      + v7) * 256 + v8 AS f8_mant
  FROM (
    SELECT
      t0, seq, n4, i,
      instr(b.x, substr(data, o + 1, 1)) - 1 AS id1, instr(b.x, substr(data, o + 2, 1)) - 1 AS id2,
      instr(b.x, substr(data, o + 3, 1)) - 1 AS id3,
      instr(b.x, substr(data, o + 4, 1)) - 1 AS dt1, instr(b.x, substr(data, o + 5, 1)) - 1 AS dt2,
      instr(b.x, substr(data, o + 6, 1)) - 1 AS dt3, instr(b.x, substr(data, o + 7, 1)) - 1 AS dt4,
      instr(b.x, substr(data, o + 8, 1)) - 1 AS v1, instr(b.x, substr(data, o + 9, 1)) - 1 AS v2,
      instr(b.x, substr(data, o + 10, 1)) - 1 AS v3, instr(b.x, substr(data, o + 11, 1)) - 1 AS v4,
      instr(b.x, substr(data, o + 12, 1)) - 1 AS v5, instr(b.x, substr(data, o + 13, 1)) - 1 AS v6,
      instr(b.x, substr(data, o + 14, 1)) - 1 AS v7, instr(b.x, substr(data, o + 15, 1)) - 1 AS v8
    FROM (
      SELECT j.t0, j.seq, j.n4, j.data, k.i,
             11 * j.n4 + 15 * k.i AS o
      FROM journal j JOIN nums k ON k.i < j.n8
      WHERE j.seq > (SELECT value FROM meta WHERE key = 'journal_base')
    ), bytemap b
  )
)
UNION ALL
-- the bad and stale section: no value
SELECT
  (id1 * 256 + id2) * 256 + id3,
  t0 + (((dt1 * 256 + dt2) * 256 + dt3) * 256 + dt4),
  NULL,
  q,
  seq,
  n4 + n8 + i
FROM (
  SELECT
    t0, seq, n4, n8, i,
    instr(b.x, substr(data, o + 1, 1)) - 1 AS id1, instr(b.x, substr(data, o + 2, 1)) - 1 AS id2,
    instr(b.x, substr(data, o + 3, 1)) - 1 AS id3,
    instr(b.x, substr(data, o + 4, 1)) - 1 AS dt1, instr(b.x, substr(data, o + 5, 1)) - 1 AS dt2,
    instr(b.x, substr(data, o + 6, 1)) - 1 AS dt3, instr(b.x, substr(data, o + 7, 1)) - 1 AS dt4,
    instr(b.x, substr(data, o + 8, 1)) - 1 AS q
  FROM (
    SELECT j.t0, j.seq, j.n4, j.n8, j.data, k.i,
           11 * j.n4 + 15 * j.n8 + 8 * k.i AS o
    FROM journal j JOIN nums k ON k.i < j.nq
    WHERE j.seq > (SELECT value FROM meta WHERE key = 'journal_base')
  ), bytemap b
);


-- journal_polls: one row per poll in the live journal slots. After the
-- readings' sections (above) a slot holds
--   nok polls that worked without a failed request
--                       6 bytes: device num (2), dt (4)
--   nerr other polls   11 bytes: device num (2), dt (4), ok, timeouts,
--                                exceptions, crc (1 each), then other
--                                (low 4 bits) and gateway (high 4 bits)
--                                in one byte
CREATE VIEW journal_polls AS
SELECT
  num1 * 256 + num2 AS num,
  t0 + (((dt1 * 256 + dt2) * 256 + dt3) * 256 + dt4) AS ts,
  1 AS ok,
  0 AS timeouts,
  0 AS exceptions,
  0 AS crc,
  0 AS other,
  0 AS gateway
FROM (
  SELECT
    t0,
    instr(b.x, substr(data, o + 1, 1)) - 1 AS num1, instr(b.x, substr(data, o + 2, 1)) - 1 AS num2,
    instr(b.x, substr(data, o + 3, 1)) - 1 AS dt1, instr(b.x, substr(data, o + 4, 1)) - 1 AS dt2,
    instr(b.x, substr(data, o + 5, 1)) - 1 AS dt3, instr(b.x, substr(data, o + 6, 1)) - 1 AS dt4
  FROM (
    SELECT j.t0, j.data,
           11 * j.n4 + 15 * j.n8 + 8 * j.nq + 6 * k.i AS o
    FROM journal j JOIN nums k ON k.i < j.nok
    WHERE j.seq > (SELECT value FROM meta WHERE key = 'journal_base')
  ), bytemap b
)
UNION ALL
SELECT
  num1 * 256 + num2,
  t0 + (((dt1 * 256 + dt2) * 256 + dt3) * 256 + dt4),
  ok, timeouts, exceptions, crc, other % 16, other / 16
FROM (
  SELECT
    t0,
    instr(b.x, substr(data, o + 1, 1)) - 1 AS num1, instr(b.x, substr(data, o + 2, 1)) - 1 AS num2,
    instr(b.x, substr(data, o + 3, 1)) - 1 AS dt1, instr(b.x, substr(data, o + 4, 1)) - 1 AS dt2,
    instr(b.x, substr(data, o + 5, 1)) - 1 AS dt3, instr(b.x, substr(data, o + 6, 1)) - 1 AS dt4,
    instr(b.x, substr(data, o + 7, 1)) - 1 AS ok,
    instr(b.x, substr(data, o + 8, 1)) - 1 AS timeouts,
    instr(b.x, substr(data, o + 9, 1)) - 1 AS exceptions,
    instr(b.x, substr(data, o + 10, 1)) - 1 AS crc,
    instr(b.x, substr(data, o + 11, 1)) - 1 AS other
  FROM (
    SELECT j.t0, j.data,
           11 * j.n4 + 15 * j.n8 + 8 * j.nq + 6 * j.nok + 11 * k.i AS o
    FROM journal j JOIN nums k ON k.i < j.nerr
    WHERE j.seq > (SELECT value FROM meta WHERE key = 'journal_base')
  ), bytemap b
);


-- readings_all: every stored reading, archive and journal (value NULL
-- unless the quality is good: 0 good, 1 bad, 2 stale).
CREATE VIEW readings_all AS
SELECT point_id, ts, value, quality FROM chunk_readings
UNION ALL
SELECT point_id, ts, value, quality FROM journal_readings;
