// What a creator says about a stream (title, category, tags, language), shared by the
// dashboard's editor, the watch page and Browse. The language codes are ISO 639-1, the list the
// server accepts (crates/domain/src/stream_info.rs); their names come from the browser.
import { api, type Schemas } from "./api";

export type Category = Schemas["CategoryView"];

export const LANGUAGES = (
  "aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy " +
  "ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo " +
  "lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl " +
  "sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu"
).split(" ");

const names = (() => {
  try {
    return new Intl.DisplayNames(["en"], { type: "language" });
  } catch {
    return null;
  }
})();

/** `es` → `Spanish` (the code itself where the browser has no name for it). */
export function languageName(code: string): string {
  try {
    return names?.of(code) ?? code;
  } catch {
    return code;
  }
}

/** Every language, by name. */
export const LANGUAGES_BY_NAME = LANGUAGES.map((code) => ({ code, name: languageName(code) })).sort((a, b) => a.name.localeCompare(b.name));

let categories: Promise<Category[]> | null = null;
/** The categories (asked once per page load). */
export function loadCategories(): Promise<Category[]> {
  categories ??= api<Schemas["CategoryList"]>("GET", "/api/categories").then(
    (c) => c.categories,
    (e) => {
      categories = null;
      throw e;
    },
  );
  return categories;
}

/** "speedrun, retro" → ["speedrun", "retro"]: what the tags field holds. */
export function parseTags(text: string): string[] {
  return text
    .split(",")
    .map((t) => t.trim().replace(/^#/, ""))
    .filter(Boolean);
}
