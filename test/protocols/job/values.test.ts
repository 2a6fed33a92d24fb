import { describe, expect, it } from 'vitest'
import { formatPath, parseDuration, parseSize } from '../../../protocols/job/index.js'

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000], ['20m', 1_200_000], ['2h', 7_200_000], ['1h30m', 5_400_000], ['1h30m15s', 5_415_000],
    ['1d', 86_400_000], ['1.5h', 5_400_000], ['90', 90_000], [' 20m ', 1_200_000], [90, 90_000], [0.5, 500], ['0s', 0]
  ] as Array<[unknown, number]>)('%j is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it.each(['', 'm', '20 m', '20M', '30m1h', '1h1h', '-5s', '5ms', '1w', 'soon', '1e3'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined()
  })

  it.each([null, undefined, true, [], {}, -1, Number.NaN, Number.POSITIVE_INFINITY])('%j is not a duration', (value) => {
    expect(parseDuration(value)).toBeUndefined()
  })
})

describe('parseSize', () => {
  it.each([
    ['512M', 512 * 1024 ** 2], ['2G', 2 * 1024 ** 3], ['1.5G', 1.5 * 1024 ** 3], ['1024K', 1024 ** 2], ['1T', 1024 ** 4],
    ['2GiB', 2 * 1024 ** 3], ['2GB', 2 * 1024 ** 3], ['2g', 2 * 1024 ** 3], ['512 M', 512 * 1024 ** 2], ['100B', 100],
    ['4096', 4096], [4096, 4096], [0, 0]
  ] as Array<[unknown, number]>)('%j is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes)
  })

  it.each(['', 'G', 'lots', '1.5', '2X', '2 GiBs', '-1G', '1e3', '2Gb/s'])('%j is not a size', (text) => {
    expect(parseSize(text)).toBeUndefined()
  })

  it.each([null, true, [], 1.5, -1, Number.NaN, 2 ** 60])('%j is not a size', (value) => {
    expect(parseSize(value)).toBeUndefined()
  })
})

describe('formatPath', () => {
  it('writes dotted paths with indexes and quotes odd keys', () => {
    expect(formatPath(['stages', 1, 'steps', 0, 'command'])).toBe('stages[1].steps[0].command')
    expect(formatPath(['params', 'TOKEN'])).toBe('params.TOKEN')
    expect(formatPath(['params', 'MY-VAR'])).toBe('params["MY-VAR"]')
    expect(formatPath([])).toBe('')
  })
})
