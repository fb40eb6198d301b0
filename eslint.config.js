// typescript-eslint's recommended rules, plus the type-aware ones that catch real bugs tsc lets through: a promise
// nobody awaits or catches, a promise where a callback's result is ignored, an await of something that is not one.
// The no-unsafe-* family is left out: apache-arrow types column values as `any`, and flagging every read of them
// would bury these. Style is prettier's job (.prettierrc).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'test/fixtures/', '**/*.js']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {parserOptions: {projectService: true, tsconfigRootDir: import.meta.dirname}},
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test() and describe() return promises the runner itself awaits.
        {allowForKnownSafeCalls: [{from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite']}]},
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // A leading underscore marks a deliberately unused name (`const {cfg: _cfg, ...rest} = ...`), as tsc allows.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true},
      ],
    },
  },
  {
    // Arrow and oclif come from one module each, bundled by the build into one file (fast to load, one copy of
    // their classes).
    files: ['**/*.ts'],
    ignores: ['src/lib/arrow/apache-arrow.ts', 'src/cli/oclif.ts', 'test/internals.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {group: ['apache-arrow', 'apache-arrow/*'], message: 'import it from src/lib/arrow/apache-arrow.ts'},
            {group: ['@oclif/core', '@oclif/core/*'], message: 'import it from src/cli/oclif.ts'},
          ],
        },
      ],
    },
  },
  {
    // Tests read JSON reports and browser pages whose shape is what they assert.
    files: ['test/**/*.ts'],
    rules: {'@typescript-eslint/no-explicit-any': 'off'},
  },
)
