import escapeHtml from 'escape-html';

/** Markup made by `html`: put into another template as it is, where any other value is escaped. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** What a template takes: markup, text and numbers (escaped), nothing (`null`, `undefined`, `false`), or lists of them. */
export type HtmlPart = Html | string | number | null | undefined | false | readonly HtmlPart[];

function partText(v: HtmlPart): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return (v as readonly HtmlPart[]).map(partText).join('');
  return escapeHtml(String(v as string | number));
}

/**
 * A tagged template whose every interpolated value is escaped (`escape-html`: `& < > " '`), in
 * text and in quoted attribute values alike, unless it is markup made by `html` itself. Outside
 * strings (feature and category names, extraData, app names) only ever go in as values.
 */
export function html(strings: TemplateStringsArray, ...values: HtmlPart[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += partText(values[i]!) + strings[i + 1]!;
  return new Html(out);
}
