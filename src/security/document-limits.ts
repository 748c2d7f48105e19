/**
 * Bounds on a GraphQL document, checked before graphql-js parses it.
 *
 * graphql-js's parser and several validation rules recurse once per nesting level, and
 * OverlappingFieldsCanBeMerged compares fields pairwise: a 20,000-deep selection overflows the
 * stack (a 500 with stack traces), and a document of many thousand fields blocks the event loop
 * for seconds. So the source is first lexed with graphql-js's own `Lexer` — a loop, no recursion,
 * no AST kept — to count tokens, nesting, aliases and directives; only a document within every
 * limit is handed to `parse` (with `maxTokens` as well, as a second fence).
 */
import { GraphQLError, Lexer, Source, TokenKind, parse, type DocumentNode, type ParseOptions } from 'graphql';
import type { Limits } from '../config.ts';
import { ErrorCode } from '../resolvers/errors.ts';

export type DocumentLimits = Pick<Limits, 'maxQueryTokens' | 'maxQueryDepth' | 'maxQueryAliases' | 'maxQueryDirectives'>;

/** What `measureDocument` counts. */
export interface DocumentMeasure {
  /** Lexical tokens, as graphql-js counts them for `maxTokens` (comments excluded). */
  readonly tokens: number;
  /** Deepest nesting of selection sets, which is the field depth of the deepest definition. */
  readonly selectionDepth: number;
  /** Deepest nesting of list and object values (arguments, variable defaults). */
  readonly valueDepth: number;
  readonly aliases: number;
  readonly directives: number;
}

/** Names of the limits as configured (`LIMIT_<NAME>`), reported in `extensions.limitName`. */
export const LimitName = {
  tokens: 'MAX_QUERY_TOKENS',
  depth: 'MAX_QUERY_DEPTH',
  aliases: 'MAX_QUERY_ALIASES',
  directives: 'MAX_QUERY_DIRECTIVES',
  cost: 'MAX_QUERY_COST',
} as const;
export type LimitName = (typeof LimitName)[keyof typeof LimitName];

/**
 * The error of an operation over a limit: QUERY_TOO_COMPLEX with the limit's name, the limit and
 * what was measured.
 */
export function queryTooComplex(limitName: LimitName, limit: number, measured: number, what: string): GraphQLError {
  return new GraphQLError(`The operation has ${measured} ${what}, over the limit of ${limit} (${limitName}).`, {
    extensions: { code: ErrorCode.QUERY_TOO_COMPLEX, limitName, limit, measured },
  });
}

/**
 * The same error answered with HTTP 400 over HTTP: the request is the client's to change. (Yoga
 * reads `extensions.http` for the status and leaves it out of the response; over graphql-ws it
 * would be sent as it is, so it is only added for HTTP.)
 */
export const withHttpStatus = (error: GraphQLError): GraphQLError =>
  new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status: 400 } } });

/**
 * Lexes the whole document once and counts. Bracket kinds are tracked on a stack of counters, not
 * by recursion, so any nesting is measured in constant stack. A lexical error (e.g. an unterminated
 * string) throws graphql-js's own syntax error, as `parse` would.
 */
export function measureDocument(source: string): DocumentMeasure {
  const lexer = new Lexer(new Source(source));
  // What each open bracket is: a selection set, or part of a value (arguments, lists, objects).
  const open: ('selection' | 'value')[] = [];
  let valueOpen = 0;
  let selectionOpen = 0;
  let tokens = 0;
  let selectionDepth = 0;
  let valueDepth = 0;
  let aliases = 0;
  let directives = 0;
  let previous: TokenKind | null = null;
  for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
    tokens += 1;
    switch (token.kind) {
      case TokenKind.BRACE_L:
        // Selection sets never appear inside arguments or values; a brace there is an object value.
        if (valueOpen === 0) {
          open.push('selection');
          selectionOpen += 1;
          selectionDepth = Math.max(selectionDepth, selectionOpen);
        } else {
          open.push('value');
          valueOpen += 1;
          valueDepth = Math.max(valueDepth, valueOpen - 1);
        }
        break;
      case TokenKind.PAREN_L:
      case TokenKind.BRACKET_L:
        open.push('value');
        valueOpen += 1;
        // The parenthesis of an argument list is not a level of value nesting; a list is.
        if (token.kind === TokenKind.BRACKET_L) valueDepth = Math.max(valueDepth, valueOpen - 1);
        break;
      case TokenKind.BRACE_R:
      case TokenKind.PAREN_R:
      case TokenKind.BRACKET_R:
        // Unbalanced brackets are a syntax error that parse reports; only keep the counts sane.
        if (open.pop() === 'selection') selectionOpen -= 1;
        else if (valueOpen > 0) valueOpen -= 1;
        break;
      case TokenKind.COLON:
        // `name:` directly inside a selection set is an alias; elsewhere a colon belongs to a value,
        // an argument or a variable definition.
        if (previous === TokenKind.NAME && valueOpen === 0 && selectionOpen > 0) aliases += 1;
        break;
      case TokenKind.AT:
        directives += 1;
        break;
      default:
        break;
    }
    previous = token.kind;
  }
  return { tokens, selectionDepth, valueDepth, aliases, directives };
}

/** Every limit the measure breaks, one error each (empty when the document is within them). */
export function checkDocument(measure: DocumentMeasure, limits: DocumentLimits): GraphQLError[] {
  const errors: GraphQLError[] = [];
  if (measure.tokens > limits.maxQueryTokens) {
    errors.push(queryTooComplex(LimitName.tokens, limits.maxQueryTokens, measure.tokens, 'tokens'));
  }
  if (measure.selectionDepth > limits.maxQueryDepth) {
    errors.push(queryTooComplex(LimitName.depth, limits.maxQueryDepth, measure.selectionDepth, 'levels of nested selections'));
  }
  if (measure.valueDepth > limits.maxQueryDepth) {
    errors.push(queryTooComplex(LimitName.depth, limits.maxQueryDepth, measure.valueDepth, 'levels of nested list or object values'));
  }
  if (measure.aliases > limits.maxQueryAliases) {
    errors.push(queryTooComplex(LimitName.aliases, limits.maxQueryAliases, measure.aliases, 'aliases'));
  }
  if (measure.directives > limits.maxQueryDirectives) {
    errors.push(queryTooComplex(LimitName.directives, limits.maxQueryDirectives, measure.directives, 'directives'));
  }
  return errors;
}

/**
 * `parse` that measures first: over a limit it throws the first limit's GraphQLError (envelop
 * reports one parse error) without building an AST.
 */
export function createLimitedParse(limits: DocumentLimits): (source: string | Source, options?: ParseOptions) => DocumentNode {
  return (source, options) => {
    const text = typeof source === 'string' ? source : source.body;
    const errors = checkDocument(measureDocument(text), limits);
    if (errors.length > 0) throw errors[0] as GraphQLError;
    return parse(source, { ...options, maxTokens: limits.maxQueryTokens });
  };
}
