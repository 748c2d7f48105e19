/**
 * Input values that do not coerce to their type (`first: 1e10`, `"seq": "x"`, a missing required
 * input field) are the client's to fix, so they answer BAD_USER_INPUT like every other input
 * error, instead of graphql-js's code-less message:
 *
 * - in the document, graphql-js reports them from ValuesOfCorrectTypeRule during validation; the
 *   rule runs here with a context whose `reportError` adds the code;
 * - in variables, execution reports them before running anything (`getVariableValues`), as a
 *   result with errors and no `data`.
 *
 * Also: schema introspection can be turned off (graphql-js's NoSchemaIntrospectionCustomRule).
 */
import { GraphQLError, NoSchemaIntrospectionCustomRule, ValuesOfCorrectTypeRule, type ExecutionResult, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '../resolvers/errors.ts';

function withCode(error: GraphQLError, code: string): GraphQLError {
  if (error.extensions['code'] !== undefined) return error;
  return new GraphQLError(error.message, {
    nodes: error.nodes ?? null,
    source: error.source ?? null,
    positions: error.positions ?? null,
    path: error.path ?? null,
    originalError: error.originalError ?? null,
    extensions: { ...error.extensions, code },
  });
}

/** ValuesOfCorrectTypeRule, reporting its errors with BAD_USER_INPUT. */
const CodedValuesOfCorrectTypeRule: ValidationRule = (context) => {
  const report = context.reportError.bind(context);
  // A context that is the original in every respect but how it reports.
  const coded = Object.create(context) as typeof context;
  coded.reportError = (error) => report(withCode(error, ErrorCode.BAD_USER_INPUT));
  return ValuesOfCorrectTypeRule(coded);
};
Object.defineProperty(CodedValuesOfCorrectTypeRule, 'name', { value: ValuesOfCorrectTypeRule.name });

/** A result that execution refused before running: the variables did not coerce. */
const isRefusedVariables = (result: ExecutionResult): boolean =>
  !('data' in result) && result.errors !== undefined && result.errors.every((error) => error.path === undefined);

/**
 * A result refused before running, its variable errors coded BAD_USER_INPUT; other results as
 * they are. (What the plugin below does, for callers that run graphql-js themselves.)
 */
export const codeRefusedVariables = (result: ExecutionResult): ExecutionResult =>
  isRefusedVariables(result) ? codeVariables(result) : result;

const codeVariables = (result: ExecutionResult): ExecutionResult => ({
  ...result,
  errors: (result.errors ?? []).map((error) => withCode(error, ErrorCode.BAD_USER_INPUT)),
});

export interface InputRulesOptions {
  /** Whether `__schema` / `__type` may be queried (`__typename` always may). */
  readonly introspection: boolean;
}

export function useInputRules({ introspection }: InputRulesOptions): Plugin {
  return {
    onValidate({ addValidationRule, setValidationFn, validateFn }) {
      if (!introspection) addValidationRule(NoSchemaIntrospectionCustomRule);
      setValidationFn((schema, document, rules, typeInfo, options) =>
        validateFn(
          schema,
          document,
          rules?.map((rule: ValidationRule) => (rule === ValuesOfCorrectTypeRule ? CodedValuesOfCorrectTypeRule : rule)),
          typeInfo,
          options,
        ),
      );
    },
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          if (!(Symbol.asyncIterator in result) && isRefusedVariables(result)) setResult(codeVariables(result));
        },
      };
    },
    onSubscribe() {
      return {
        onSubscribeResult({ result, setResult }) {
          if (!(Symbol.asyncIterator in result) && isRefusedVariables(result)) setResult(codeVariables(result));
        },
      };
    },
  };
}
