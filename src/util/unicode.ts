/**
 * A lone UTF-16 surrogate is not a character. JSON and JavaScript strings can carry one
 * (`"\ud800"`), but UTF-8 cannot: SQLite and MongoDB store it as U+FFFD, so a message would read
 * one way live and another way from history. Inputs that are stored are refused instead.
 */
export const hasLoneSurrogate = (text: string): boolean => /\p{Cs}/u.test(text);
