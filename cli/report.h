/* report.h — one document, written twice: Markdown (report.md, figures as
 * relative links next to it) and HTML (report.html, self-contained: SVG
 * figures inline, PNG figures as base64 data URIs, its own CSS).
 *
 * Build it block by block, then write both files. Text may use three bits
 * of inline Markdown, which the HTML writer converts: **bold**, `code` and
 * [text](link). Table cells are separated by '|'. Formatting failures
 * (out of memory) are remembered and reported by report_write.
 *
 *   report *r = report_create("out");
 *   report_heading(r, 1, "The MLP on MNIST");
 *   report_paragraph(r, "Trained for %d epochs.", epochs);
 *   report_table(r, "epoch|train error|test error");
 *   report_row(r, "%d|%.2f%%|%.2f%%", e, train, test);
 *   report_figure(r, "fig_error.svg", "Train and test error per epoch.");
 *   report_write(r, "out/report.md", "out/report.html", &err);
 *   report_free(r);
 */
#ifndef DN_REPORT_H
#define DN_REPORT_H

#include "cli.h"

typedef struct report report;

/* dir: the folder the figures are in (and the reports go to). */
report *report_create(const char *dir);
void report_free(report *r);

void report_heading(report *r, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void report_paragraph(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Consecutive bullets form one list. */
void report_bullet(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Starts a table with the header cells; report_row adds a row to it. */
void report_table(report *r, const char *header);
void report_row(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Preformatted text, shown as is. */
void report_code(report *r, const char *text);
/* A figure: file is relative to dir (.svg or .png), caption plain text. */
void report_figure(report *r, const char *file, const char *caption);
/* Two figures side by side in HTML (one after the other in Markdown). */
void report_figure_pair(report *r, const char *file1, const char *caption1, const char *file2, const char *caption2);

dn_status report_write(const report *r, const char *md_path, const char *html_path, dn_error *err);

#endif /* DN_REPORT_H */
