/* report.c — see report.h. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

typedef enum block_type { B_HEADING, B_PARAGRAPH, B_BULLET, B_TABLE, B_ROW, B_CODE, B_FIGURE } block_type;

typedef struct block {
    block_type type;
    int level;              /* heading level; for B_FIGURE the number of figures (1 or 2) */
    char *text;             /* heading, paragraph, bullet, cells, code; a figure's first caption */
    char *file[2], *caption2;
} block;

struct report {
    char *dir;
    block *blocks;
    size_t count, cap;
    int failed; /* a block could not be stored: out of memory */
};

static const char css[] =
    "body{margin:0;background:#f4f5f7;color:#1f2328;font:16px/1.6 system-ui,-apple-system,'Segoe UI',Roboto,"
    "'DejaVu Sans',sans-serif}\n"
    "main{max-width:1000px;margin:0 auto;padding:28px 40px 60px;background:#fff;box-shadow:0 0 12px rgba(0,0,0,.06)}\n"
    "h1{font-size:1.9em;line-height:1.25;border-bottom:2px solid #e6e8eb;padding-bottom:.3em}\n"
    "h2{font-size:1.4em;margin-top:2.2em;border-bottom:1px solid #e6e8eb;padding-bottom:.2em}\n"
    "h3{font-size:1.1em;margin-top:1.6em}\n"
    "a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}\n"
    "code{font:.88em/1.4 'DejaVu Sans Mono',Menlo,Consolas,monospace;background:#f0f2f4;padding:.1em .35em;"
    "border-radius:4px}\n"
    "pre{background:#f6f8fa;border:1px solid #e6e8eb;border-radius:6px;padding:10px 14px;overflow-x:auto}\n"
    "pre code{background:none;padding:0}\n"
    ".table{overflow-x:auto;margin:1em 0}\n"
    "table{border-collapse:collapse;font-size:.88em;font-variant-numeric:tabular-nums}\n"
    "th,td{border:1px solid #d8dee4;padding:5px 8px;text-align:right;white-space:nowrap}\n"
    "th{white-space:normal;vertical-align:bottom}\n" /* long headers wrap so wide tables fit the page */
    "th{background:#f0f2f4}tr:nth-child(even) td{background:#f8f9fa}\n"
    "th:first-child,td:first-child{text-align:left}\n"
    "figure{margin:1.6em 0;text-align:center}\n"
    "figure svg,figure img{max-width:100%;height:auto;border:1px solid #eceef1;border-radius:4px}\n"
    "figcaption{color:#57606a;font-size:.9em;margin:.5em auto 0;max-width:46em}\n"
    ".pair{display:flex;gap:16px;flex-wrap:wrap;justify-content:center}.pair figure{flex:1 1 300px;margin:.8em 0}\n"
    "li{margin:.35em 0}\n";

/* ------------------------------------------------------------- building */

static char *vformat(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int len = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    char *s = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (s) vsnprintf(s, (size_t)len + 1, fmt, ap);
    return s;
}

static char *copy(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Appends a block owning text (NULL text means the formatting failed). */
static block *add(report *r, block_type type, int level, char *text)
{
    if (text && r->count == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 32;
        block *grown = realloc(r->blocks, cap * sizeof *grown);
        if (grown) r->blocks = grown, r->cap = cap;
    }
    if (!text || r->count == r->cap) {
        free(text);
        r->failed = 1;
        return NULL;
    }
    block *b = &r->blocks[r->count++];
    *b = (block){type, level, text, {NULL, NULL}, NULL};
    return b;
}

static void add_formatted(report *r, block_type type, int level, const char *fmt, va_list ap)
{
    add(r, type, level, vformat(fmt, ap));
}

report *report_create(const char *dir)
{
    report *r = calloc(1, sizeof *r);
    if (r && !(r->dir = strdup(dir))) {
        free(r);
        return NULL;
    }
    return r;
}

void report_free(report *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->count; i++) {
        free(r->blocks[i].text);
        free(r->blocks[i].file[0]);
        free(r->blocks[i].file[1]);
        free(r->blocks[i].caption2);
    }
    free(r->blocks);
    free(r->dir);
    free(r);
}

void report_heading(report *r, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_formatted(r, B_HEADING, level < 1 ? 1 : level > 4 ? 4 : level, fmt, ap);
    va_end(ap);
}

void report_paragraph(report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_formatted(r, B_PARAGRAPH, 0, fmt, ap);
    va_end(ap);
}

void report_bullet(report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_formatted(r, B_BULLET, 0, fmt, ap);
    va_end(ap);
}

void report_row(report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_formatted(r, B_ROW, 0, fmt, ap);
    va_end(ap);
}

void report_table(report *r, const char *header) { add(r, B_TABLE, 0, copy(header)); }

void report_code(report *r, const char *text) { add(r, B_CODE, 0, copy(text)); }

void report_figure_pair(report *r, const char *file1, const char *caption1, const char *file2, const char *caption2)
{
    block *b = add(r, B_FIGURE, file2 ? 2 : 1, copy(caption1));
    if (!b) return;
    b->file[0] = copy(file1);
    b->file[1] = copy(file2);
    b->caption2 = copy(caption2 ? caption2 : "");
    if (!b->file[0] || !b->caption2 || (file2 && !b->file[1])) r->failed = 1;
}

void report_figure(report *r, const char *file, const char *caption)
{
    report_figure_pair(r, file, caption, NULL, NULL);
}

/* ------------------------------------------------------------- Markdown */

/* "a|b|c" as "| a | b | c |". */
static void md_cells(FILE *fp, const char *cells)
{
    fputs("|", fp);
    for (const char *c = cells;; c++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        fprintf(fp, " %.*s |", (int)len, c);
        if (!bar) break;
        c = bar;
    }
    fputs("\n", fp);
}

static size_t count_cells(const char *cells)
{
    size_t n = 1;
    for (; *cells; cells++) n += *cells == '|';
    return n;
}

static void md_figure(FILE *fp, const char *file, const char *caption)
{
    fprintf(fp, "![%s](%s)\n\n*%s*\n\n", caption, file, caption);
}

static void md_block(FILE *fp, const block *b, const block *next)
{
    switch (b->type) {
    case B_HEADING: fprintf(fp, "%.*s %s\n\n", b->level, "####", b->text); break;
    case B_PARAGRAPH: fprintf(fp, "%s\n\n", b->text); break;
    case B_BULLET: fprintf(fp, "- %s\n%s", b->text, next && next->type == B_BULLET ? "" : "\n"); break;
    case B_TABLE:
        md_cells(fp, b->text);
        fputs("|", fp);
        for (size_t i = count_cells(b->text); i > 0; i--) fputs("---|", fp);
        fputs(next && next->type == B_ROW ? "\n" : "\n\n", fp);
        break;
    case B_ROW:
        md_cells(fp, b->text);
        if (!next || next->type != B_ROW) fputs("\n", fp);
        break;
    case B_CODE: fprintf(fp, "```\n%s\n```\n\n", b->text); break;
    case B_FIGURE:
        md_figure(fp, b->file[0], b->text);
        if (b->level == 2) md_figure(fp, b->file[1], b->caption2);
        break;
    }
}

static dn_status write_markdown(const report *r, const char *path, dn_error *err)
{
    cli_text t;
    if (cli_text_open(&t)) return cli_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < r->count; i++) md_block(t.fp, &r->blocks[i], i + 1 < r->count ? &r->blocks[i + 1] : NULL);
    return cli_text_commit(&t, path, err);
}

/* ----------------------------------------------------------------- HTML */

static void html_escape(FILE *fp, const char *s, size_t len)
{
    for (size_t i = 0; i < len && s[i]; i++) {
        switch (s[i]) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        default: fputc(s[i], fp);
        }
    }
}

/* Inline Markdown → HTML: **bold**, `code`, [text](link); the rest escaped. */
static void html_inline(FILE *fp, const char *s, size_t len)
{
    int bold = 0;
    const char *end = s + len;
    while (s < end && *s) {
        const char *close, *paren;
        if (s[0] == '*' && s + 1 < end && s[1] == '*') {
            fputs(bold ? "</strong>" : "<strong>", fp);
            bold = !bold;
            s += 2;
        } else if (*s == '`' && (close = memchr(s + 1, '`', (size_t)(end - s - 1)))) {
            fputs("<code>", fp);
            html_escape(fp, s + 1, (size_t)(close - s - 1));
            fputs("</code>", fp);
            s = close + 1;
        } else if (*s == '[' && (close = memchr(s, ']', (size_t)(end - s))) && close + 1 < end && close[1] == '(' &&
                   (paren = memchr(close, ')', (size_t)(end - close)))) {
            fputs("<a href=\"", fp);
            html_escape(fp, close + 2, (size_t)(paren - close - 2));
            fputs("\">", fp);
            html_inline(fp, s + 1, (size_t)(close - s - 1));
            fputs("</a>", fp);
            s = paren + 1;
        } else {
            html_escape(fp, s++, 1);
        }
    }
    if (bold) fputs("</strong>", fp);
}

static void html_cells(FILE *fp, const char *cells, const char *tag)
{
    fputs("<tr>", fp);
    for (const char *c = cells;; c++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        fprintf(fp, "<%s>", tag);
        html_inline(fp, c, len);
        fprintf(fp, "</%s>", tag);
        if (!bar) break;
        c = bar;
    }
    fputs("</tr>\n", fp);
}

static dn_status read_file(const char *path, char **data, size_t *size, dn_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return cli_fail(err, DN_ERR_IO, "%s: cannot open the figure for report.html (%s)", path, strerror(errno));
    char *buf = NULL;
    long len = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (len >= 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)) &&
        fread(buf, 1, (size_t)len, fp) == (size_t)len) {
        fclose(fp);
        buf[len] = '\0';
        *data = buf;
        *size = (size_t)len;
        return DN_OK;
    }
    fclose(fp);
    free(buf);
    return cli_fail(err, DN_ERR_IO, "%s: cannot read the figure for report.html", path);
}

static void base64(FILE *fp, const unsigned char *data, size_t size)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < size; i += 3) {
        unsigned v = (unsigned)data[i] << 16 | (i + 1 < size ? (unsigned)data[i + 1] << 8 : 0) |
                     (i + 2 < size ? data[i + 2] : 0);
        fputc(digits[v >> 18 & 63], fp);
        fputc(digits[v >> 12 & 63], fp);
        fputc(i + 1 < size ? digits[v >> 6 & 63] : '=', fp);
        fputc(i + 2 < size ? digits[v & 63] : '=', fp);
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The figure inline: an SVG's markup without its XML prolog (HTML does not
 * want one mid-document), a PNG as a data URI. */
static dn_status html_figure(FILE *fp, const char *dir, const char *file, const char *caption, dn_error *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return cli_fail(err, DN_ERR_USAGE, "%s/%s: path too long", dir, file);
    char *data = NULL;
    size_t size = 0;
    dn_status s = read_file(path, &data, &size, err);
    if (s) return s;
    fputs("<figure>\n", fp);
    if (ends_with(file, ".svg")) {
        const char *svg = strstr(data, "<svg");
        fputs(svg ? svg : "", fp);
    } else {
        fputs("<img alt=\"", fp);
        html_escape(fp, caption, strlen(caption));
        fputs("\" src=\"data:image/png;base64,", fp);
        base64(fp, (const unsigned char *)data, size);
        fputs("\">\n", fp);
    }
    fputs("<figcaption>", fp);
    html_inline(fp, caption, strlen(caption));
    fputs("</figcaption>\n</figure>\n", fp);
    free(data);
    return DN_OK;
}

static dn_status html_block(FILE *fp, const report *r, const block *b, const block *prev, const block *next,
                            dn_error *err)
{
    dn_status s = DN_OK;
    switch (b->type) {
    case B_HEADING:
        fprintf(fp, "<h%d>", b->level);
        html_inline(fp, b->text, strlen(b->text));
        fprintf(fp, "</h%d>\n", b->level);
        break;
    case B_PARAGRAPH:
        fputs("<p>", fp);
        html_inline(fp, b->text, strlen(b->text));
        fputs("</p>\n", fp);
        break;
    case B_BULLET:
        fputs(prev && prev->type == B_BULLET ? "<li>" : "<ul>\n<li>", fp);
        html_inline(fp, b->text, strlen(b->text));
        fputs(next && next->type == B_BULLET ? "</li>\n" : "</li>\n</ul>\n", fp);
        break;
    case B_TABLE:
        fputs("<div class=\"table\"><table>\n<thead>", fp);
        html_cells(fp, b->text, "th");
        fputs(next && next->type == B_ROW ? "</thead>\n<tbody>\n" : "</thead>\n</table></div>\n", fp);
        break;
    case B_ROW:
        html_cells(fp, b->text, "td");
        if (!next || next->type != B_ROW) fputs("</tbody>\n</table></div>\n", fp);
        break;
    case B_CODE:
        fputs("<pre><code>", fp);
        html_escape(fp, b->text, strlen(b->text));
        fputs("</code></pre>\n", fp);
        break;
    case B_FIGURE:
        if (b->level == 2) fputs("<div class=\"pair\">\n", fp);
        s = html_figure(fp, r->dir, b->file[0], b->text, err);
        if (!s && b->level == 2) s = html_figure(fp, r->dir, b->file[1], b->caption2, err);
        if (b->level == 2) fputs("</div>\n", fp);
        break;
    }
    return s;
}

static dn_status write_html(const report *r, const char *path, dn_error *err)
{
    cli_text t;
    if (cli_text_open(&t)) return cli_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    const char *title = r->count && r->blocks[0].type == B_HEADING ? r->blocks[0].text : "digitnet report";
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          t.fp);
    html_escape(t.fp, title, strlen(title));
    fprintf(t.fp, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", css);
    dn_status s = DN_OK;
    for (size_t i = 0; i < r->count && !s; i++)
        s = html_block(t.fp, r, &r->blocks[i], i ? &r->blocks[i - 1] : NULL,
                       i + 1 < r->count ? &r->blocks[i + 1] : NULL, err);
    fputs("</main>\n</body>\n</html>\n", t.fp);
    if (s) {
        fclose(t.fp);
        free(t.buffer);
        return s;
    }
    return cli_text_commit(&t, path, err);
}

dn_status report_write(const report *r, const char *md_path, const char *html_path, dn_error *err)
{
    if (r->failed) return cli_fail(err, DN_ERR_NOMEM, "%s: out of memory composing the report", md_path);
    dn_status s = write_markdown(r, md_path, err);
    return s ? s : write_html(r, html_path, err);
}
