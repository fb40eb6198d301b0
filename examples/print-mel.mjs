// Prints a mel table's rows: id, status, sample rate, real frames, and the log-mel's range.
import {readFileSync} from 'node:fs'
import {tableFromIPC} from 'apache-arrow'

const table = tableFromIPC(readFileSync(process.argv[2]))
console.log(`${table.numRows} rows; columns: ${table.schema.fields.map((f) => f.name).join(', ')}`)
for (const row of table) {
  const mel = row.mel?.toArray()
  const range = mel ? `log-mel ${mel.reduce((a, b) => Math.min(a, b)).toFixed(2)} .. ${mel.reduce((a, b) => Math.max(a, b)).toFixed(2)}` : row.error
  console.log(`  ${row.id.padEnd(22)} ${row.status.padEnd(6)} ${String(row.sample_rate).padStart(6)} Hz  ${String(row.mel_frames).padStart(4)} frames  ${range}`)
}
