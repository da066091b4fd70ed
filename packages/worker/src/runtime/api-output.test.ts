import { readFileSync } from 'node:fs'
import { NonRetriableError } from '@cfp/sdk'
import { describe, expect, it } from 'vitest'
import type { LoadedStep } from '../loader/load.js'
import { apiOutput } from './invoke.js'

interface Vectors {
  apiOutputs: {
    normalised: { name: string; returned: unknown; output: unknown }[]
    refused: { name: string; returned: unknown; header: string }[]
  }
}

const vectors = JSON.parse(readFileSync(new URL('../../../../protocol/vectors/worker-frames.json', import.meta.url), 'utf8')) as Vectors
const step = { manifest: { name: 'Echo' } } as unknown as LoadedStep

describe('an API step result becomes a valid output (shared vectors, apiOutputs)', () => {
  it.each(vectors.apiOutputs.normalised)('$name', (v) => {
    expect(apiOutput(step, v.returned)).toEqual(v.output)
  })

  it.each(vectors.apiOutputs.refused)('refused: $name', (v) => {
    let thrown: unknown
    try {
      apiOutput(step, v.returned)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(NonRetriableError)
    expect((thrown as Error).message).toContain(`header '${v.header}'`)
  })
})
