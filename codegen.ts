/**
 * `npm run codegen`: writes the printed, sorted schema to schema.graphql (what clients and the
 * contract test read) and typed documents for the tests' own operations under test/gql.
 */
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: './src/schema/index.ts',
  documents: ['test/**/*.ts', 'bench/**/*.ts', '!test/gql/**'],
  ignoreNoDocuments: true,
  generates: {
    'schema.graphql': {
      plugins: ['schema-ast'],
      config: { sort: true, includeDirectives: false, commentDescriptions: false },
    },
    'test/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string' },
        strictScalars: true,
        avoidOptionals: { field: true, inputValue: false, object: true, defaultValue: false },
      },
    },
  },
};

export default config;
