import {after, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {
  DATASETS,
  detectDataset,
  ingest,
  type DatasetName,
  type IndexRow,
  type IngestOptions,
} from '../src/lib/data/ingest.js'
import {UserError} from '../src/lib/util/errors.js'
import {fixture, sharedData, skipWithoutShared} from './helpers.js'

async function collect(dataset: DatasetName, dir: string, options?: IngestOptions): Promise<IndexRow[]> {
  const rows: IndexRow[] = []
  for await (const row of ingest(dataset, dir, options)) rows.push(row)
  return rows
}

const ok = (rows: IndexRow[]) => rows.filter((row) => row.status === 'ok')
const byId = (rows: IndexRow[], id: string) => {
  const row = rows.find((candidate) => candidate.id === id)
  assert.ok(row, `no row ${id}`)
  return row
}

/** Rejects with a UserError whose message matches every pattern. */
async function rejectsWith(rows: Promise<unknown>, ...patterns: RegExp[]) {
  await assert.rejects(rows, (error: Error) => {
    assert.ok(error instanceof UserError, `not a UserError: ${error.stack}`)
    assert.doesNotMatch(error.message, /\n/)
    for (const pattern of patterns) assert.match(error.message, pattern)
    return true
  })
}

const scratch = mkdtempSync(path.join(tmpdir(), 'vipant-datasets-'))
after(() => rmSync(scratch, {recursive: true, force: true}))

/** A fresh directory holding `files` (relative path -> content; media files are empty placeholders). */
function tree(name: string, files: Record<string, string>): string {
  const dir = path.join(scratch, name)
  for (const [relative, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, relative)), {recursive: true})
    writeFileSync(path.join(dir, relative), content)
  }
  mkdirSync(dir, {recursive: true})
  return dir
}

const ONTOLOGY = JSON.stringify([
  {id: '/m/09x0r', name: 'Speech'},
  {id: '/t/dd00088', name: 'Gush'},
  {id: '/m/012xff', name: 'Toothbrush'},
  {id: '/m/03fwl', name: 'Goat'},
])

describe('shared data', {skip: skipWithoutShared}, () => {
  test('esc50: every metadata row, 6 clips on disk', async () => {
    const dir = sharedData('esc50')
    assert.equal(detectDataset(dir), 'esc50')
    const rows = await collect('esc50', dir)
    assert.equal(rows.length, 2000)
    assert.equal(ok(rows).length, 6)
    assert.deepEqual(byId(rows, '1-100038-A-14'), {
      id: '1-100038-A-14',
      dataset: 'esc50',
      path: path.join(dir, 'audio', '1-100038-A-14.wav'),
      status: 'missing',
      split: null,
      fold: 1,
      label: 14,
      class: 'chirping_birds',
      captions: null,
      labels: null,
      label_names: null,
      start: null,
      end: null,
      frames: null,
    })
    const horn = byId(rows, '2-100648-A-43')
    assert.deepEqual([horn.status, horn.fold, horn.label, horn.class], ['ok', 2, 43, 'car_horn'])
    assert.equal(rows[0].id, '1-100032-A-0')
  })

  test('us8k: all folds listed, only fold 10 on disk', async () => {
    const dir = sharedData('us8k')
    assert.equal(detectDataset(dir), 'us8k')
    const rows = await collect('us8k', dir)
    assert.equal(rows.length, 8732)
    assert.equal(ok(rows).length, 837)
    assert.ok(rows.every((row) => (row.status === 'ok') === (row.fold === 10)))
    const slice = byId(rows, '100648-1-4-0')
    assert.equal(slice.path, path.join(dir, 'audio', 'fold10', '100648-1-4-0.wav'))
    assert.deepEqual(
      [slice.status, slice.fold, slice.label, slice.class, slice.start, slice.end],
      ['ok', 10, 1, 'car_horn', 25.332994, 27.197502],
    )
    const first = rows[0]
    assert.deepEqual(
      [first.id, first.status, first.fold, first.start, first.end],
      ['100032-3-0-0', 'missing', 5, 0, 0.317551],
    )
  })

  test('clotho: evaluation split, 5 captions per clip, quoted commas', async () => {
    const dir = sharedData('clotho')
    assert.equal(detectDataset(dir), 'clotho')
    const rows = await collect('clotho', dir, {split: 'evaluation'})
    assert.equal(rows.length, 1045)
    assert.ok(rows.every((row) => row.split === 'evaluation' && row.captions?.length === 5))
    assert.deepEqual(
      ok(rows)
        .map((row) => row.id)
        .sort(),
      [
        '01 A pug struggles to breathe 1_14_2008',
        '01 barreau bunker original',
        '01 hospital elevator with computer voice',
        '02-Bakken_Rollercoaster',
        'Flipping Pages',
        'Tenerife_bazaar_2',
        'turning pages book slow quickly',
      ],
    )
    const santa = rows[0]
    assert.equal(santa.id, 'Santa Motor')
    assert.equal(santa.path, path.join(dir, 'evaluation', 'Santa Motor.wav'))
    assert.equal(santa.captions![4], 'While rhythmically punching or stamping, a machine whines and squeals.')
    assert.equal(
      byId(rows, 'Flipping Pages').captions![3],
      'PAPER RUSTLING WAS EVIDENT AS THE MAN SEARCHED FOR A MISSING DOCUMENT IN THE FILE.',
    )
  })

  test('clotho: every split whose CSV exists by default; unknown or absent split is an error', async () => {
    const dir = sharedData('clotho')
    const rows = await collect('clotho', dir)
    assert.equal(rows.length, 2893 + 1045)
    assert.deepEqual([rows[0].split, rows[2892].split, rows[2893].split], ['development', 'development', 'evaluation'])
    await rejectsWith(
      collect('clotho', dir, {split: 'validation'}),
      /no clotho_captions_validation\.csv \(clotho validation split\)/,
    )
    await rejectsWith(collect('clotho', dir, {split: 'test'}), /no split "test"/, /development, validation, evaluation/)
  })

  test('audiocaps: official CSVs in v1/ grouped into clips', async () => {
    const dir = sharedData('audiocaps')
    assert.equal(detectDataset(dir), 'audiocaps')
    const val = await collect('audiocaps', dir, {split: 'val'})
    assert.equal(val.length, 495)
    assert.ok(val.every((row) => row.captions?.length === 5 && row.split === 'val' && row.end === row.start! + 10))
    assert.equal(val[0].id, 'vfY_TJq7n_U')
    assert.deepEqual([val[0].start, val[0].end, val[0].status], [130, 140, 'missing'])
    assert.equal(
      val[0].captions![0],
      'Rustling occurs, ducks quack and water splashes, followed by an adult female and adult male speaking and duck calls being blown',
    )
    const test = await collect('audiocaps', dir, {split: 'test'})
    assert.equal(test.length, 975)
    assert.ok(test.every((row) => row.captions?.length === 5))
    const train = await collect('audiocaps', dir, {split: 'train'})
    assert.equal(train.length, 49838) // one caption per clip: as many clips as rows
    assert.deepEqual(
      [train[0].id, train[0].start, train[0].captions],
      ['r1nicOVtvkQ', 130, ['A woman talks nearby as water pours']],
    )
    assert.equal(new Set([...train, ...val, ...test].map((row) => row.id)).size, 49838 + 495 + 975)
  })

  test('audioset: normalised segment CSVs, labels named through ontology.json', async () => {
    const dir = sharedData('audioset')
    assert.equal(detectDataset(dir), 'audioset')
    const rows = await collect('audioset', dir)
    const balanced = rows.filter((row) => row.split === 'balanced_train_segments')
    const evaluation = rows.filter((row) => row.split === 'eval_segments')
    assert.deepEqual([balanced.length, evaluation.length, rows.length], [22160, 20371, 22160 + 20371])
    assert.deepEqual(rows[0], {
      id: '--PJHxphWEs',
      dataset: 'audioset',
      path: path.join(dir, '--PJHxphWEs.p0.mp3'),
      status: 'missing',
      split: 'balanced_train_segments',
      fold: null,
      label: null,
      class: null,
      captions: null,
      labels: ['/m/09x0r', '/t/dd00088'],
      label_names: ['Speech', 'Gush'],
      start: 30,
      end: 40,
      frames: null,
    })
    // Every MID resolves: a name never falls back to the MID itself.
    assert.ok(
      rows.every(
        (row) =>
          row.label_names!.length === row.labels!.length &&
          row.labels!.length > 0 &&
          row.label_names!.every((name) => !name.startsWith('/')),
      ),
    )
    const onlyEval = await collect('audioset', dir, {split: 'eval'})
    assert.equal(onlyEval.length, 20371)
    assert.deepEqual(
      [onlyEval[0].id, onlyEval[0].labels, onlyEval[0].start],
      ['--4gqARaEJE', ['/m/068hy', '/m/07q6cd_', '/m/0bt9lr', '/m/0jbk'], 0],
    )
  })

  test('folder: the videos, sorted, and a single file', async () => {
    const dir = sharedData('video')
    assert.equal(detectDataset(dir), 'folder')
    const rows = await collect('folder', dir)
    assert.equal(rows.length, 9)
    assert.ok(rows.every((row) => row.status === 'ok'))
    assert.deepEqual(
      rows.slice(0, 2).map((row) => row.id),
      ['bbb_0_30s_vp8_vorbis', 'bbb_1080p60_2s_aac6ch'],
    )
    const file = path.join(dir, 'bbb_prog_10s.mp4')
    assert.equal(detectDataset(file), 'folder')
    assert.deepEqual(
      (await collect('folder', file)).map((row) => [row.id, row.path]),
      [['bbb_prog_10s', file]],
    )
  })
})

describe('synthetic layouts', () => {
  test('audioset: official form and a VIP-ANT download tree with aclip/ and frame/', async () => {
    const dir = tree('audioset-official', {
      'ontology.json': ONTOLOGY,
      'all_0_35000/aclip/--PJHxphWEs.p0.mp3': '',
      'all_0_35000/aclip/--PJHxphWEs.n0.mp3': '', // a negative clip: never the row's audio
      'all_0_35000/frame/--PJHxphWEs.p0.4_03.jpg': '',
      'all_0_35000/frame/--PJHxphWEs.p0.4_01.jpg': '',
      'all_35000_70000/aclip/--ZhevVpy1s.n1.mp3': '',
      'all_35000_70000/aclip/--aE2O5G5WE.p0.mp3': '',
    })
    copyFileSync(fixture('datasets', 'audioset_official_segments.csv'), path.join(dir, 'balanced_train_segments.csv'))
    assert.equal(detectDataset(dir), 'audioset')
    const rows = await collect('audioset', dir)
    assert.deepEqual(
      rows.map((row) => [row.id, row.status, row.split, row.start, row.end]),
      [
        ['--PJHxphWEs', 'ok', 'balanced_train_segments', 30, 40],
        ['--ZhevVpy1s', 'missing', 'balanced_train_segments', 50, 60],
        ['--aE2O5G5WE', 'ok', 'balanced_train_segments', 0, 10],
      ],
    )
    assert.equal(rows[0].path, path.join(dir, 'all_0_35000', 'aclip', '--PJHxphWEs.p0.mp3'))
    assert.deepEqual(rows[0].frames, [
      path.join(dir, 'all_0_35000', 'frame', '--PJHxphWEs.p0.4_01.jpg'),
      path.join(dir, 'all_0_35000', 'frame', '--PJHxphWEs.p0.4_03.jpg'),
    ])
    assert.deepEqual(
      [rows[0].labels, rows[0].label_names],
      [
        ['/m/09x0r', '/t/dd00088'],
        ['Speech', 'Gush'],
      ],
    )
    assert.deepEqual([rows[1].path, rows[1].frames], [path.join(dir, '--ZhevVpy1s.p0.mp3'), null])
    assert.deepEqual(rows[2].frames, [])
    // A MID the ontology lacks stands for itself.
    assert.deepEqual(rows[2].label_names, ['Goat', '/m/04rlf', 'Speech'])
  })

  test('audioset: VIP-ANT src_*.csv JSON lines; official CSV preferred, aliases skipped', async () => {
    const dir = tree('audioset-src', {
      'all_0_35000/aclip/--PJHxphWEs.p0.mp3': '',
      'all_0_35000/frame/--PJHxphWEs.p0.4_02.jpg': '',
      'all_0_35000/frame/--PJHxphWEs.p0.4_01.jpg': '',
      'src_train_segments.csv': '{"this": "is never read"}\n',
    })
    copyFileSync(
      fixture('datasets', 'src_balanced_train_segments.csv'),
      path.join(dir, 'src_balanced_train_segments.csv'),
    )
    assert.equal(detectDataset(dir), 'audioset')
    const rows = await collect('audioset', dir)
    assert.deepEqual(
      rows.map((row) => [row.id, row.status, row.split, row.start, row.end, row.labels, row.label_names]),
      [
        ['--PJHxphWEs', 'ok', 'balanced_train_segments', 30, 40, ['/m/09x0r', '/t/dd00088'], null],
        ['--ZhevVpy1s', 'missing', 'balanced_train_segments', 50, 60, ['/m/012xff'], null],
      ],
    )
    assert.deepEqual(rows[0].frames, [
      path.join(dir, 'all_0_35000', 'frame', '--PJHxphWEs.p0.4_01.jpg'),
      path.join(dir, 'all_0_35000', 'frame', '--PJHxphWEs.p0.4_02.jpg'),
    ])
    assert.deepEqual(
      [rows[1].path, rows[1].frames],
      [path.join(dir, 'all_35000_70000', 'aclip', '--ZhevVpy1s.p0.mp3'), []],
    )

    copyFileSync(fixture('datasets', 'audioset_official_segments.csv'), path.join(dir, 'balanced_train_segments.csv'))
    writeFileSync(path.join(dir, 'ontology.json'), ONTOLOGY)
    const official = await collect('audioset', dir)
    assert.equal(official.length, 3)
    assert.deepEqual(official[0].frames, rows[0].frames)
    const viaOption = await collect('audioset', dir, {
      csv: path.join(dir, 'src_balanced_train_segments.csv'),
      split: 'mine',
    })
    assert.deepEqual(
      viaOption.map((row) => [row.split, row.label_names]),
      [
        ['mine', ['Speech', 'Gush']],
        ['mine', ['Toothbrush']],
      ],
    )
  })

  test('audioset: a bad line names the file and line', async () => {
    const dir = tree('audioset-bad', {
      'eval_segments.csv':
        'YTID,start_seconds,end_seconds,positive_labels\nabc,0.000,10.000,"/m/09x0r"\nabd,zero,10.000,"/m/09x0r"\n',
      'unbalanced_train_segments.csv':
        '# 1\n# 2\n# YTID, start_seconds, end_seconds, positive_labels\nabc, 0.000, 10.000\n',
      'src_eval_segments.csv':
        '{"id": "abc", "dir": "x", "aclip": ["p0.mp3"], "bos": "0", "eos": "10"}\n{"id": "abd"\n',
    })
    await rejectsWith(
      collect('audioset', dir, {split: 'eval'}),
      /eval_segments\.csv:3: start_seconds is not a number: "zero"/,
    )
    await rejectsWith(
      collect('audioset', dir, {split: 'unbalanced_train'}),
      /unbalanced_train_segments\.csv:4: malformed CSV line \(expected 4 fields, found 3\)/,
    )
    await rejectsWith(
      collect('audioset', dir, {csv: path.join(dir, 'src_eval_segments.csv')}),
      /src_eval_segments\.csv:2: malformed index line/,
    )
    await rejectsWith(
      collect('audioset', dir, {split: 'nope'}),
      /no AudioSet split "nope" \(found eval_segments, unbalanced_train_segments\)/,
    )
    await rejectsWith(collect('audioset', dir, {ontology: path.join(dir, 'none.json')}), /none\.json: not found/)
  })

  test('audiocaps: duplicate video ids, downloaded clips in audio/ and in the download layout, src_audiocaps JSON lines', async () => {
    const header = 'audiocap_id,youtube_id,start_time,caption\r\n'
    const dir = tree('audiocaps', {
      'val.csv':
        header + '1,vidA,0,"first, of A"\r\n2,vidB,20,only B\r\n3,vidA,30,second A\r\n4,vidA,0,"again ""A"""\r\n',
      'audio/vidA.wav': '',
      'audio/vidA_30.flac': '',
      'audio/notes.txt': '',
      'chunk/aclip/vidB.p0.mp3': '',
      'chunk/frame/vidB.p0.4_04.jpg': '',
      'src_audiocaps_test.csv':
        '{"dir": "chunk", "aclip": ["p0.mp3"], "frame": ["p0.4_04.jpg"], "id": "vidB", "bos": "20.000", "eos": "30.000", "labels": ["/m/09x0r"], "captions": ["c1", "c2"]}\n',
    })
    assert.equal(detectDataset(dir), 'audiocaps')
    const rows = await collect('audiocaps', dir)
    assert.deepEqual(
      rows.map((row) => [row.id, row.split, row.status, row.start, row.end, row.captions]),
      [
        ['vidA_0', 'val', 'ok', 0, 10, ['first, of A', 'again "A"']],
        ['vidB', 'val', 'ok', 20, 30, ['only B']],
        ['vidA_30', 'val', 'ok', 30, 40, ['second A']],
        ['vidB', 'test', 'ok', 20, 30, ['c1', 'c2']],
      ],
    )
    assert.deepEqual(
      rows.map((row) => row.path),
      [
        path.join(dir, 'audio', 'vidA.wav'),
        path.join(dir, 'chunk', 'aclip', 'vidB.p0.mp3'),
        path.join(dir, 'audio', 'vidA_30.flac'),
        path.join(dir, 'chunk', 'aclip', 'vidB.p0.mp3'),
      ],
    )
    assert.deepEqual([rows[0].frames, rows[1].frames], [null, [path.join(dir, 'chunk', 'frame', 'vidB.p0.4_04.jpg')]])
    const audio = tree('audiocaps-elsewhere', {})
    const missing = await collect('audiocaps', dir, {split: 'val', audioDir: audio})
    assert.deepEqual(
      missing.map((row) => [row.status, row.path]),
      [
        ['missing', path.join(audio, 'vidA_0.p0.mp3')],
        ['missing', path.join(audio, 'vidB.p0.mp3')],
        ['missing', path.join(audio, 'vidA_30.p0.mp3')],
      ],
    )
    await rejectsWith(
      collect('audiocaps', tree('audiocaps-none', {'readme.md': ''})),
      /no audiocaps metadata \(expected one of: train\.csv, v1\/train\.csv or src_audiocaps_train\.csv; val\.csv/,
    )
  })

  test('clotho: quoting edge cases, CRLF and missing files', async () => {
    const dir = tree('clotho', {'evaluation/b.wav': ''})
    copyFileSync(
      fixture('datasets', 'clotho_captions_evaluation.csv'),
      path.join(dir, 'clotho_captions_evaluation.csv'),
    )
    const rows = await collect('clotho', dir)
    assert.deepEqual(
      rows.map((row) => [row.id, row.status, row.path]),
      [
        ['a, comma', 'missing', path.join(dir, 'evaluation', 'a, comma.wav')],
        ['b', 'ok', path.join(dir, 'evaluation', 'b.wav')],
      ],
    )
    assert.deepEqual(rows[0].captions, ['He said "hi", then left.', 'one, two, three', 'spans\ntwo lines', 'plain', ''])
  })

  test('esc50: missing files keep their expected path; bad metadata is a one-line error with file and line', async () => {
    const header = 'filename,fold,target,category,esc10,src_file,take\n'
    const dir = tree('esc50', {
      'meta/esc50.csv': header + '1-1-A-0.wav,1,0,dog,True,1,A\n2-2-A-1.wav,2,1,rooster,False,2,A\n',
      'audio/2-2-A-1.wav': '',
    })
    const rows = await collect('esc50', dir)
    assert.deepEqual(
      rows.map((row) => [row.id, row.status, row.path, row.fold, row.label, row.class]),
      [
        ['1-1-A-0', 'missing', path.join(dir, 'audio', '1-1-A-0.wav'), 1, 0, 'dog'],
        ['2-2-A-1', 'ok', path.join(dir, 'audio', '2-2-A-1.wav'), 2, 1, 'rooster'],
      ],
    )
    const meta = path.join(dir, 'meta', 'esc50.csv')
    writeFileSync(meta, header + '1-1-A-0.wav,1,0,dog,True,1,A\n1-1-B-0.wav,1,0,dog,True,1\n')
    await rejectsWith(
      collect('esc50', dir),
      new RegExp(`${meta.replace(/[.]/g, '\\.')}:3: malformed CSV line \\(expected 7 fields, found 6\\)`),
    )
    writeFileSync(meta, header + '1-1-A-0.wav,one,0,dog,True,1,A\n')
    await rejectsWith(collect('esc50', dir), /esc50\.csv:2: fold is not a number: "one"/)
    writeFileSync(meta, header + '"1-1-A-0.wav,1,0,dog,True,1,A\n')
    await rejectsWith(collect('esc50', dir), /esc50\.csv:2: malformed CSV line \(unterminated quoted field\)/)
    writeFileSync(meta, header + '"1-1-A-0".wav,1,0,dog,True,1,A\n')
    await rejectsWith(collect('esc50', dir), /esc50\.csv:2: malformed CSV line \(text after a closing quote\)/)
    writeFileSync(meta, 'name,fold\n')
    await rejectsWith(collect('esc50', dir), /esc50\.csv: header lacks column filename, target, category/)
  })

  test('a missing directory or metadata file, or an option the dataset does not take, is a UserError', async () => {
    const empty = tree('empty', {})
    await rejectsWith(collect('esc50', empty), new RegExp(`${path.join(empty, 'meta', 'esc50.csv')}: not found`))
    await rejectsWith(collect('us8k', empty), /metadata\/UrbanSound8K\.csv: not found/)
    await rejectsWith(
      collect('clotho', empty),
      /no clotho metadata \(expected one of: clotho_captions_development\.csv; clotho_captions_validation\.csv; clotho_captions_evaluation\.csv\)/,
    )
    await rejectsWith(collect('audioset', empty), /no \*_segments\.csv/)
    await rejectsWith(collect('esc50', path.join(empty, 'nope')), /nope: no such directory/)
    await rejectsWith(collect('esc50', empty, {split: 'train'}), /esc50 does not take the split option/)
    await rejectsWith(
      collect('esc50', tree('esc50-audio', {'meta/esc50.csv': 'filename,fold,target,category\n'}), {
        audioDir: path.join(empty, 'x'),
      }),
      /x: no such directory/,
    )
    await rejectsWith(
      collect('folder', path.join(fixture('datasets'), 'src_balanced_train_segments.csv')),
      /not an audio or video file/,
    )
  })

  test('folder: any media tree, ids relative without extension, sorted', async () => {
    const dir = tree('folder', {
      'b.wav': '',
      'a.wav': '',
      'a.mp3': '',
      'sub/c.FLAC': '',
      'sub/deeper/d.webm': '',
      'notes.txt': '',
      '.hidden/e.wav': '',
    })
    assert.equal(detectDataset(dir), 'folder')
    const rows = await collect('folder', dir)
    assert.deepEqual(
      rows.map((row) => [row.id, row.path, row.status]),
      [
        ['a.mp3', path.join(dir, 'a.mp3'), 'ok'],
        ['a.wav', path.join(dir, 'a.wav'), 'ok'],
        ['b', path.join(dir, 'b.wav'), 'ok'],
        ['sub/c', path.join(dir, 'sub', 'c.FLAC'), 'ok'],
        ['sub/deeper/d', path.join(dir, 'sub', 'deeper', 'd.webm'), 'ok'],
      ],
    )
  })

  test('detectDataset: each layout, nothing known, nothing there', () => {
    assert.equal(detectDataset(tree('detect-esc50', {'meta/esc50.csv': ''})), 'esc50')
    assert.equal(detectDataset(tree('detect-us8k', {'metadata/UrbanSound8K.csv': ''})), 'us8k')
    assert.equal(detectDataset(tree('detect-clotho', {'clotho_captions_development.csv': ''})), 'clotho')
    assert.equal(
      detectDataset(tree('detect-audiocaps', {'v1/test.csv': 'audiocap_id,youtube_id,start_time,caption\n'})),
      'audiocaps',
    )
    assert.equal(detectDataset(tree('detect-not-audiocaps', {'test.csv': 'a,b\n'})), null)
    assert.equal(
      detectDataset(tree('detect-vipant-root', {'src_audiocaps_val.csv': '', 'src_eval_segments.csv': ''})),
      'audioset',
    )
    assert.equal(detectDataset(tree('detect-text', {'a/b.txt': ''})), null)
    assert.equal(detectDataset(path.join(scratch, 'nothing-here')), null)
    for (const name of Object.keys(DATASETS) as DatasetName[]) {
      assert.ok(DATASETS[name].description && DATASETS[name].layout, name)
    }
  })
})
