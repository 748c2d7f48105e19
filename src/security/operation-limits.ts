/**
 * The yoga (envelop) plugin that bounds every operation, over HTTP and over graphql-ws alike
 * (the WebSocket transport parses, validates and executes through the same envelop):
 *
 * 1. parse: the document is measured lexically before graphql-js parses it (tokens, nesting,
 *    aliases, directives; document-limits.ts). Only cache misses are parsed, so only they are
 *    measured there: yoga's parser cache runs after this plugin and answers repeated documents.
 *    Over HTTP the request's query is also measured as soon as it is read (`onParams`, a few
 *    microseconds for a usual document): an error answered there keeps HTTP 400 whatever the
 *    Accept header, where a parse error follows the GraphQL-over-HTTP spec and is a 200 for
 *    `application/json` clients.
 * 2. execute / subscribe: the operation's cost, with its variables (query-cost.ts), against
 *    `maxQueryCost` and `maxQueryDepth` — before any resolver runs and before a subscription opens.
 */
import type { Plugin } from 'graphql-yoga';
import type { DocumentNode, ExecutionArgs, GraphQLError } from 'graphql';
import type { Limits } from '../config.ts';
import { GraphQLError as GraphQLErrorClass } from 'graphql';
import { LimitName, checkDocument, createLimitedParse, measureDocument, queryTooComplex, withHttpStatus } from './document-limits.ts';
import { measureCost, createCostMeter, type CostMeasure } from './query-cost.ts';

export type OperationLimits = Pick<
  Limits,
  'maxQueryTokens' | 'maxQueryDepth' | 'maxQueryAliases' | 'maxQueryDirectives' | 'maxQueryCost'
>;

/** Errors for an operation over the cost or depth limit; empty when within them. */
export function costErrors(args: ExecutionArgs, limits: OperationLimits, measure: CostMeasure = measureCost): GraphQLError[] {
  const cost = measure({
    schema: args.schema,
    document: args.document,
    operationName: args.operationName,
    variableValues: args.variableValues,
    context: args.contextValue as object,
  });
  if (cost === null) return [];
  const errors: GraphQLError[] = [];
  if (cost.depth > limits.maxQueryDepth) {
    errors.push(queryTooComplex(LimitName.depth, limits.maxQueryDepth, cost.depth, 'levels of nested fields (fragments included)'));
  }
  if (cost.complexity > limits.maxQueryCost) {
    errors.push(queryTooComplex(LimitName.cost, limits.maxQueryCost, cost.complexity, 'cost points (a connection counts its selection once per item of the page)'));
  }
  return errors;
}

/** HTTP requests carry yoga's `request` in their context; graphql-ws operations do not. */
const overTransport = (args: ExecutionArgs, errors: GraphQLError[]): GraphQLError[] =>
  typeof args.contextValue === 'object' && args.contextValue !== null && 'request' in args.contextValue
    ? errors.map(withHttpStatus)
    : errors;

export function useOperationLimits(limits: OperationLimits, measure: CostMeasure = createCostMeter()): Plugin {
  const limitedParse = createLimitedParse(limits);
  return {
    onParams({ params, setResult }) {
      if (typeof params.query !== 'string') return;
      let errors: GraphQLError[];
      try {
        errors = checkDocument(measureDocument(params.query), limits);
      } catch (error) {
        // A lexical syntax error: parse reports it, with its location.
        if (error instanceof GraphQLErrorClass) return;
        throw error;
      }
      if (errors.length > 0) setResult({ errors: errors.map(withHttpStatus) });
    },
    onParse({ setParseFn }) {
      setParseFn(limitedParse);
    },
    onExecute({ args, setResultAndStopExecution }) {
      const errors = costErrors(args, limits, measure);
      if (errors.length > 0) setResultAndStopExecution({ errors: overTransport(args, errors) });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const errors = costErrors(args, limits, measure);
      if (errors.length > 0) setResultAndStopExecution({ errors: overTransport(args, errors) });
    },
  };
}

/** For tests and tools: the document limits alone, as the server applies them to a query text. */
export const parseWithLimits = (limits: OperationLimits, source: string): DocumentNode => createLimitedParse(limits)(source);
