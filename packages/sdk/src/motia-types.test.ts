import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const dir = fileURLToPath(new URL('../fixtures/motia-types/', import.meta.url))

describe("the 'motia' compat types", () => {
  it('type-check Motia-style step files, stream files and a generated types.d.ts augmentation', () => {
    const file = ts.readConfigFile(`${dir}tsconfig.json`, (p) => ts.sys.readFile(p))
    const parsed = ts.parseJsonConfigFileContent(file.config, ts.sys, dir)
    const program = ts.createProgram(parsed.fileNames, parsed.options)
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${d.file.fileName.replace(dir, '')}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : ''
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`
    })
    expect(parsed.fileNames.length).toBeGreaterThan(6)
    expect(diagnostics).toEqual([])
  }, 30_000)
})
