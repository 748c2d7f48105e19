/**
 * `npm run codegen`: writes the printed, sorted schema to schema.graphql (what clients and the
 * contract test read), typed documents for the tests' own operations under test/gql, and the
 * typed documents of the client kit (client/gql) and of the browser chat (web/src/gql).
 */
import type { CodegenConfig } from '@graphql-codegen/cli';

/** How every typed-document target maps the schema to TypeScript. */
const typesConfig = {
  useTypeImports: true,
  enumsAsTypes: true,
  scalars: { DateTime: 'string' },
  strictScalars: true,
  avoidOptionals: { field: true, inputValue: false, object: true, defaultValue: false },
};

const config: CodegenConfig = {
  schema: './src/schema/index.ts',
  ignoreNoDocuments: true,
  generates: {
    'schema.graphql': {
      plugins: ['schema-ast'],
      config: { sort: true, includeDirectives: false, commentDescriptions: false },
    },
    'test/gql/': {
      documents: ['test/**/*.ts', 'bench/**/*.ts', '!test/gql/**'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: typesConfig,
    },
    // The client kit and the browser chat send documents as strings (documentMode: 'string'),
    // so neither carries graphql-js into a browser or React Native bundle to print them.
    'client/gql/': {
      documents: ['client/**/*.ts', '!client/gql/**'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: { ...typesConfig, documentMode: 'string' },
    },
    'web/src/gql/': {
      documents: ['web/src/**/*.{ts,tsx}', '!web/src/gql/**'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: { ...typesConfig, documentMode: 'string' },
    },
  },
};

export default config;
