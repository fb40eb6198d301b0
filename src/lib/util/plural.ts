/** A count and its noun, agreeing: "1 clip", "2 clips", "0 errors"; `many` for irregular plurals ("1 query", "3 queries"). */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}
