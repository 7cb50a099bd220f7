/*
 * query_table.c - result tables and their three renderings (aligned text,
 * JSON, CSV).
 *
 * Every query, top-N and detection returns the same plain table, so the
 * CLI and the REST API format results in one place and a new detection
 * needs no printing code. JSON is written by hand (no jansson dependency in
 * lib/) with full string escaping.
 */
#include "query.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct qry_table *qry_table_create(uint32_t n_cols, const char *const *names,
				   const enum qry_col_type *types)
{
	struct qry_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->n_cols = n_cols;
	t->col_names = calloc(n_cols ? n_cols : 1, sizeof(char *));
	t->col_types = calloc(n_cols ? n_cols : 1, sizeof(*t->col_types));
	if (!t->col_names || !t->col_types)
		goto fail;
	for (uint32_t i = 0; i < n_cols; i++) {
		t->col_names[i] = strdup(names[i]);
		if (!t->col_names[i])
			goto fail;
		t->col_types[i] = types[i];
	}
	return t;
fail:
	qry_table_destroy(t);
	errno = ENOMEM;
	return NULL;
}

void qry_table_destroy(struct qry_table *t)
{
	if (!t)
		return;
	for (uint32_t r = 0; r < t->n_rows; r++)
		for (uint32_t c = 0; c < t->n_cols; c++)
			if (t->col_types[c] == QRY_COL_STR)
				free(t->cells[(size_t)r * t->n_cols + c].s);
	if (t->col_names)
		for (uint32_t c = 0; c < t->n_cols; c++)
			free(t->col_names[c]);
	free(t->col_names);
	free(t->col_types);
	free(t->cells);
	free(t->note);
	free(t);
}

struct qry_cell *qry_table_add_row(struct qry_table *t)
{
	if (t->n_rows == t->cap_rows) {
		uint32_t ncap = t->cap_rows ? t->cap_rows * 2 : 16;
		struct qry_cell *n = realloc(t->cells, (size_t)ncap * (t->n_cols ? t->n_cols : 1) *
							       sizeof(*n));
		if (!n) {
			errno = ENOMEM;
			return NULL;
		}
		t->cells = n;
		t->cap_rows = ncap;
	}
	struct qry_cell *row = &t->cells[(size_t)t->n_rows * t->n_cols];
	memset(row, 0, t->n_cols * sizeof(*row));
	t->n_rows++;
	return row;
}

int qry_cell_set_str(struct qry_cell *c, const char *s)
{
	free(c->s);
	c->s = strdup(s ? s : "");
	return c->s ? 0 : -ENOMEM;
}

void qry_table_set_note(struct qry_table *t, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(t->note);
	t->note = s;
}

int qry_format_parse(const char *s, enum qry_format *out)
{
	if (!strcmp(s, "table"))
		*out = QRY_FMT_TABLE;
	else if (!strcmp(s, "json"))
		*out = QRY_FMT_JSON;
	else if (!strcmp(s, "csv"))
		*out = QRY_FMT_CSV;
	else
		return -EINVAL;
	return 0;
}

/* Render one cell as text (not quoted). */
static const char *cell_text(const struct qry_table *t, uint32_t r, uint32_t c, char *buf,
			     size_t len)
{
	const struct qry_cell *x = &t->cells[(size_t)r * t->n_cols + c];

	switch (t->col_types[c]) {
	case QRY_COL_U64: snprintf(buf, len, "%llu", (unsigned long long)x->u); break;
	case QRY_COL_F64: snprintf(buf, len, "%.2f", x->d); break;
	case QRY_COL_STR: return x->s ? x->s : "";
	case QRY_COL_TIME: {
		time_t sec = (time_t)(x->u / 1000000000ull);
		unsigned ns = (unsigned)(x->u % 1000000000ull);
		struct tm tm;
		size_t n;
		gmtime_r(&sec, &tm);
		n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
		if (ns)
			snprintf(buf + n, len - n, ".%09uZ", ns);
		else
			snprintf(buf + n, len - n, "Z");
		break;
	}
	}
	return buf;
}

static bool is_numeric(enum qry_col_type t)
{
	return t == QRY_COL_U64 || t == QRY_COL_F64;
}

/* printf width: numbers right-aligned; the last text column is not padded. */
static int col_width(const struct qry_table *t, const size_t *w, uint32_t c)
{
	if (is_numeric(t->col_types[c]))
		return (int)w[c];
	return c + 1 == t->n_cols ? 0 : -(int)w[c];
}

static void print_aligned(const struct qry_table *t, FILE *out)
{
	size_t *w = calloc(t->n_cols ? t->n_cols : 1, sizeof(*w));
	char buf[128];

	if (!w)
		return;
	for (uint32_t c = 0; c < t->n_cols; c++) {
		w[c] = strlen(t->col_names[c]);
		for (uint32_t r = 0; r < t->n_rows; r++) {
			size_t l = strlen(cell_text(t, r, c, buf, sizeof(buf)));
			if (l > w[c])
				w[c] = l;
		}
	}
	for (uint32_t c = 0; c < t->n_cols; c++)
		fprintf(out, "%s%*s", c ? "  " : "", col_width(t, w, c), t->col_names[c]);
	fputc('\n', out);
	for (uint32_t r = 0; r < t->n_rows; r++) {
		for (uint32_t c = 0; c < t->n_cols; c++)
			fprintf(out, "%s%*s", c ? "  " : "", col_width(t, w, c),
				cell_text(t, r, c, buf, sizeof(buf)));
		fputc('\n', out);
	}
	if (t->note)
		fprintf(out, "# %s\n", t->note);
	free(w);
}

static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void print_json(const struct qry_table *t, FILE *out)
{
	char buf[128];

	fputs("{\"columns\":[", out);
	for (uint32_t c = 0; c < t->n_cols; c++) {
		fputs(c ? "," : "", out);
		json_str(out, t->col_names[c]);
	}
	fputs("],\"rows\":[", out);
	for (uint32_t r = 0; r < t->n_rows; r++) {
		fputs(r ? ",{" : "{", out);
		for (uint32_t c = 0; c < t->n_cols; c++) {
			const struct qry_cell *x = &t->cells[(size_t)r * t->n_cols + c];
			fputs(c ? "," : "", out);
			json_str(out, t->col_names[c]);
			fputc(':', out);
			if (t->col_types[c] == QRY_COL_U64)
				fprintf(out, "%llu", (unsigned long long)x->u);
			else if (t->col_types[c] == QRY_COL_F64)
				fprintf(out, "%.3f", x->d);
			else
				json_str(out, cell_text(t, r, c, buf, sizeof(buf)));
		}
		fputc('}', out);
	}
	fputc(']', out);
	if (t->note) {
		fputs(",\"note\":", out);
		json_str(out, t->note);
	}
	fputs("}\n", out);
}

static void csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void print_csv(const struct qry_table *t, FILE *out)
{
	char buf[128];

	for (uint32_t c = 0; c < t->n_cols; c++) {
		fputs(c ? "," : "", out);
		csv_field(out, t->col_names[c]);
	}
	fputc('\n', out);
	for (uint32_t r = 0; r < t->n_rows; r++) {
		for (uint32_t c = 0; c < t->n_cols; c++) {
			fputs(c ? "," : "", out);
			csv_field(out, cell_text(t, r, c, buf, sizeof(buf)));
		}
		fputc('\n', out);
	}
}

int qry_table_print(const struct qry_table *t, enum qry_format fmt, FILE *out)
{
	switch (fmt) {
	case QRY_FMT_JSON: print_json(t, out); break;
	case QRY_FMT_CSV: print_csv(t, out); break;
	default: print_aligned(t, out); break;
	}
	return ferror(out) ? -EIO : 0;
}
