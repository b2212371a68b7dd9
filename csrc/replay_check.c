/*
 * replay_check.c — the checks of a replay log (replay.c drives the heap).
 *
 * Two parts. replay_frame, before the heap is touched: the header and
 * version, every block's length and CRC-32, and the last block's records,
 * which must end with the END record as the file's last bytes; so a log
 * with any byte changed or cut is refused before the first operation.
 * replay_check, record by record as replay.c replays them (its fast path,
 * replay.h's quick_*, accepts exactly what this does for the common
 * records): each record's shape and ids follow the records before it: a
 * handle or weak reference is used only while live and created only while
 * free, an object id only after a NEW gave it, the END record counts the
 * records before it. It also follows which object each handle holds (a
 * NEW's, or the one a GET, READY or WEAK_GET names), so that it can refuse
 * what no recording writes and a crafted log (valid checksums, impossible
 * contents) could: a store of a reference no live handle holds (the object
 * may be freed by then), a slot index out of range, an operation on an
 * object unsafe.free freed. Any failure is TC_ERR_VALUE naming its byte
 * offset. replay.c checks at run time the one thing this cannot know: that
 * a load returns the object the log names.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replay.h"

tc_status replay_bad(size_t off, const char *what)
{
    return tc_fail(TC_ERR_VALUE, "corrupt replay log at byte offset %zu: %s", off, what);
}


bool replay_get_u_long(const uint8_t *d, size_t *pos, size_t end, uint64_t *out)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= end)
            return false;
        uint8_t b = d[(*pos)++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = x;
            return true;
        }
    }
    return false;
}

bool replay_fields_wide(const uint8_t *d, size_t *p, unsigned n, uint64_t *f)
{
    for (unsigned i = 0; i < n; i++)
        if (!replay_get_u_long(d, p, SIZE_MAX, &f[i])) /* FAST_ROOM: at most 4 x 10 bytes ahead */
            return false;
    return true;
}

const uint8_t replay_nargs[REC_OP_COUNT] = {
    [REC_NEW] = 4, [REC_SET] = 2, [REC_GET] = 4, [REC_RELEASE] = 1, [REC_COLLECT] = 2,
    [REC_FINALIZER] = 2, [REC_CLEANUP] = 2, [REC_READY] = 3, [REC_WEAK_NEW] = 2,
    [REC_WEAK_GET] = 3, [REC_WEAK_RELEASE] = 1, [REC_FREE] = 1, [REC_FOREIGN] = 0, [REC_END] = 1,
};

/* replay_decode_error — why the record at off could not be decoded. */
tc_status replay_decode_error(size_t off, uint8_t op)
{
    if (op == 0 || op >= REC_OP_COUNT) {
        char msg[64];
        snprintf(msg, sizeof msg, "unknown record type 0x%02x", op);
        return replay_bad(off, msg);
    }
    return replay_bad(off, "a record runs past the end of its block");
}

/* ---- the record checks ---- */

/* replay_grow_to — see replay.h. The tables are lazily mapped memory
 * (plat_map_lazy): zero without a memset, and a page costs nothing until
 * the replay touches it. With realloc, the replay's tables were 6 MB of
 * page faults, memset and, once glibc's mmap threshold had risen past
 * their size (a process that replays twice), memmove: about a tenth of a
 * replay (perf). tc_replay sizes the hot ones for the whole log at once
 * (replay_presize), so growing, which maps a larger table and copies, is
 * for the others. */
bool replay_grow_to(void **p, size_t *cap, uint64_t id, size_t size)
{
    if (id < *cap)
        return true;
    size_t nc = *cap ? *cap : 1024;
    while (nc <= id)
        nc *= 2;
    uint8_t *np = plat_map_lazy(nc * size);
    if (!np)
        return false;
    if (*p) {
        memcpy(np, *p, *cap * size);
        plat_unmap(*p, *cap * size);
    }
    *p = np;
    *cap = nc;
    return true;
}

void replay_table_free(void *p, size_t cap, size_t size)
{
    if (p)
        plat_unmap(p, cap * size);
}

/* replay_presize — see replay.h. A new object id takes a NEW (at least 5
 * bytes), a new handle id a NEW, GET, READY or WEAK_GET (at least 4): a
 * log of n bytes has fewer than n / 4 + 2 of either. */
void replay_presize(vstate *v, size_t log_bytes)
{
    uint64_t most = log_bytes / 4 + 2;
    most = most < REPLAY_PRESIZE_MAX ? most : REPLAY_PRESIZE_MAX;
    (void)replay_grow_to((void **)&v->objs, &v->ocap, most - 1, sizeof *v->objs);
    (void)replay_grow_to((void **)&v->hobj, &v->hcap, most - 1, sizeof *v->hobj);
}

/* ids_make — may `id` be created now? It must be free and at most one past the largest so far. */
static bool ids_make(ids *s, uint64_t id)
{
    if (id == 0 || id > s->max + 1 || (id <= s->max && s->live[id]))
        return false;
    if (id == s->max + 1) {
        if (!replay_grow_to((void **)&s->live, &s->cap, id, 1))
            return false;
        s->max = id;
    }
    s->live[id] = 1;
    return true;
}

static bool ids_live(const ids *s, uint64_t id) { return id && id <= s->max && s->live[id]; }

/* handle_obj — the object id handle id holds, 0 if it is not live. */
static inline uint64_t handle_obj(const vstate *v, uint64_t id)
{
    return id && id <= v->max_root ? v->hobj[id].obj : 0;
}

static inline uint32_t vobj_gen(const vstate *v, uint64_t o) { return v->fr ? v->fr[o].gen : 0; }
static inline bool vobj_freed(const vstate *v, uint64_t o) { return v->fr && v->fr[o].freed; }

/* handle_make — handle id, free and at most one past the largest so far,
 * now holds object o (made by an earlier record). */
static inline const char *handle_make(vstate *v, uint64_t id, uint64_t o)
{
    if (id == 0 || id > v->max_root + 1 || handle_obj(v, id))
        return "a handle id that is live or out of sequence";
    if (o == 0 || o > v->max_obj)
        return "a handle on an object id no record made";
    if (v->objs[o].handles == UINT32_MAX)
        return "more handles on one object than a replay counts";
    if (id > v->max_root) {
        if (id >= v->hcap && !replay_grow_to((void **)&v->hobj, &v->hcap, id, sizeof *v->hobj))
            return "out of memory validating the log";
        v->max_root = id;
    }
    v->hobj[id] = (vhandle){(uint32_t)o, vobj_gen(v, o)};
    v->objs[o].handles++;
    return NULL;
}

/* handle_use — the object of live handle id, into *o; why not otherwise. */
static inline const char *handle_use(const vstate *v, uint64_t id, uint64_t *o)
{
    if (!(*o = handle_obj(v, id)))
        return "an operation on a handle that is not live";
    if (vobj_freed(v, *o) || v->hobj[id].gen != vobj_gen(v, *o))
        return "an operation on an object freed by unsafe.free";
    return NULL;
}

static const char *check_new(vstate *v, const rrec *r)
{
    if (r->a == 0 || r->a > v->max_obj + 1 || r->a > UINT32_MAX)
        return "an object id out of sequence";
    if (r->a <= v->max_obj) { /* its address was reused: the old object is dead or freed */
        if (v->objs[r->a].handles && !vobj_freed(v, r->a))
            return "an object id reused while a handle still holds its object";
        if (v->fr) /* the freed object's handles keep the old generation */
            v->fr[r->a] = (vfree){v->fr[r->a].gen + 1, false};
    }
    if (r->c > OBJ_MAX_FIELD || r->d > OBJ_MAX_FIELD || obj_bytes(r->c, r->d) > ALLOC_MAX_BYTES)
        return "an object larger than the heap allocates"; /* tc_alloc would refuse it: not asked */
    if (r->a > v->max_obj) {
        if (r->a >= v->ocap && !replay_grow_to((void **)&v->objs, &v->ocap, r->a, sizeof *v->objs))
            return "out of memory validating the log";
        v->max_obj = r->a;
    }
    if (v->fr && r->a >= v->fcap && !replay_grow_to((void **)&v->fr, &v->fcap, r->a, sizeof *v->fr))
        return "out of memory validating the log";
    v->objs[r->a] = (vobj){.nslots = (uint32_t)r->c};
    return handle_make(v, r->b, r->a);
}

/* slot_use — record r names slot r->b of the object handle r->a holds: both must exist. */
static const char *slot_use(vstate *v, const rrec *r)
{
    uint64_t o;
    const char *why = handle_use(v, r->a, &o);
    if (why)
        return why;
    return r->b >= v->objs[o].nslots ? "a slot index out of range for its object" : NULL;
}

static const char *check_set(vstate *v, const rrec *r)
{
    const char *why = slot_use(v, r);
    if (why)
        return why;
    if (r->kind > REC_K_REF)
        return "an unknown value kind";
    if (r->kind == REC_K_REF) {
        if (r->bits == 0 || r->bits > v->max_obj || !v->objs[r->bits].handles)
            return "a reference to an object id that no live handle holds (never made, or released)";
        if (vobj_freed(v, r->bits))
            return "a reference to an object freed by unsafe.free";
    }
    return NULL;
}

static const char *check_get(vstate *v, const rrec *r)
{
    const char *why = slot_use(v, r);
    return why ? why : handle_make(v, r->c, r->d);
}

static const char *check_release(vstate *v, uint64_t id)
{
    uint64_t o = handle_obj(v, id);
    if (!o)
        return "a release of a handle that is not live";
    if (v->hobj[id].gen == vobj_gen(v, o))
        v->objs[o].handles--;
    v->hobj[id].obj = 0;
    return NULL;
}

static const char *check_weak(vstate *v, const rrec *r)
{
    uint64_t o;
    const char *why = NULL;
    switch (r->op) {
    case REC_WEAK_NEW:
        if ((why = handle_use(v, r->b, &o)) != NULL)
            return why;
        return ids_make(&v->weaks, r->a) ? NULL : "a weak reference id that is live or out of sequence";
    case REC_WEAK_GET:
        if (!ids_live(&v->weaks, r->a))
            return "a get of a weak reference that is not live";
        if (r->b == 0)
            return r->c == 0 ? NULL : "a weak get that returned nothing names an object";
        return handle_make(v, r->b, r->c);
    default: /* REC_WEAK_RELEASE */
        if (!ids_live(&v->weaks, r->a))
            return "a release of a weak reference that is not live";
        v->weaks.live[r->a] = 0;
        return NULL;
    }
}

/* replay_check — the reason record r cannot follow the records before it, or NULL. */
const char *replay_check(vstate *v, const rrec *r)
{
    uint64_t o;
    const char *why;
    switch (r->op) {
    case REC_NEW: return check_new(v, r);
    case REC_SET: return check_set(v, r);
    case REC_GET: return check_get(v, r);
    case REC_RELEASE: return check_release(v, r->a);
    case REC_COLLECT:
        v->hashed |= (r->b & REC_COLLECT_HASH) != 0;
        return r->b & ~(uint64_t)REC_COLLECT_HASH ? "unknown collection flags" : NULL;
    case REC_FINALIZER:
    case REC_CLEANUP: v->special = true; return handle_use(v, r->a, &o);
    case REC_FREE:
        v->special = true;
        if ((why = handle_use(v, r->a, &o)) != NULL)
            return why;
        if (!v->fr && !replay_grow_to((void **)&v->fr, &v->fcap, v->max_obj, sizeof *v->fr))
            return "out of memory validating the log";
        v->fr[o].freed = true; /* every handle on it reads freed now (special.c) */
        return NULL;
    case REC_READY: v->special = true; return r->a ? handle_make(v, r->b, r->c) : "a finalizer with token 0";
    case REC_WEAK_NEW:
    case REC_WEAK_GET:
    case REC_WEAK_RELEASE: v->special = true; return check_weak(v, r);
    case REC_FOREIGN:
        return "the recording used a handle or object made outside it (by an inspection call), "
               "which a replay cannot rebuild";
    case REC_END: return r->a == v->records ? NULL : "the end record's count differs from the records before it";
    }
    return "an unknown record type";
}

/* read_at — up to n bytes of the log at file offset off into buf: how
 * many (fewer only at the end of the file); -1 on a read error. */
static ssize_t read_at(const rlog *g, uint8_t *buf, size_t n, size_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(g->fd, buf + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

static tc_status read_error(const rlog *g)
{
    return tc_fail(TC_ERR_IO, "cannot read the replay log \"%s\": %s", g->path, strerror(errno));
}

/* check_header — magic and version. */
static tc_status check_header(rlog *g, uint32_t *version)
{
    ssize_t n = read_at(g, g->data, REC_HEADER, 0);
    if (n < 0)
        return read_error(g);
    if ((size_t)n < REC_HEADER || g->size < REC_HEADER)
        return tc_fail(TC_ERR_VALUE, "truncated replay log: the file ends at byte offset %zd, inside the %d-byte header",
                       n, REC_HEADER);
    if (memcmp(g->data, REC_MAGIC, 8) != 0)
        return replay_bad(0, "not a tricolor replay log (bad magic)");
    *version = get_u32le(g->data + 8);
    if (*version != REC_VERSION)
        return tc_fail(TC_ERR_VALUE, "the replay log is format version %u; this build reads version %u only",
                       *version, REC_VERSION);
    if (get_u32le(g->data + 12) != 0)
        return replay_bad(12, "unknown header flags");
    return TC_OK;
}

/* replay_block — see replay.h. */
tc_status replay_block(rlog *g, size_t off, uint32_t *len)
{
    size_t want = g->size - off < 8 + REC_BLOCK + REC_OP_MAX ? g->size - off : 8 + REC_BLOCK + REC_OP_MAX;
    ssize_t n = read_at(g, g->data, want, off);
    if (n < 0)
        return read_error(g);
    g->base = off;
    if ((size_t)n < 8)
        return tc_fail(TC_ERR_VALUE, "truncated replay log: the file ends at byte offset %zu, inside the block header "
                       "at byte offset %zu", off + (size_t)n, off);
    *len = get_u32le(g->data);
    if (*len == 0 || *len > REC_BLOCK + REC_OP_MAX)
        return replay_bad(off, "a block length out of range");
    if ((size_t)n - 8 < *len)
        return tc_fail(TC_ERR_VALUE, "truncated replay log: the block at byte offset %zu needs %u bytes, the file "
                       "ends at byte offset %zu", off, *len, off + (size_t)n);
    if (rec_crc32(g->data + 8, *len) != get_u32le(g->data + 4))
        return replay_bad(off, "the block's checksum does not match (the bytes after it were changed)");
    return TC_OK;
}

/* last_block — the records of the block in g->data (the file's last)
 * decode, the last of them is the END record, and it ends the file. */
static tc_status last_block(const rlog *g, uint32_t len)
{
    size_t pos = 8, end = pos + len;
    uint64_t last = 0; /* the ids' values do not matter here, only the records' lengths */
    rrec r = {0};
    while (pos < end) {
        if (decode(g->data, &pos, end, &r, &last) != TC_OK)
            return replay_decode_error(g->base + r.off, r.op);
        if (r.op == REC_END && pos != end)
            return replay_bad(g->base + pos, "bytes after the end record");
    }
    if (r.op != REC_END)
        return tc_fail(TC_ERR_VALUE, "truncated replay log: the file ends at byte offset %zu without its end "
                       "record (was record_stop called?)", g->size);
    return TC_OK;
}

/* replay_frame — see the top of the file: header, blocks, checksums, end. */
tc_status replay_frame(rlog *g, uint32_t *version)
{
    tc_status st = check_header(g, version);
    size_t off = REC_HEADER;
    uint32_t len = 0;
    while (st == TC_OK && off < g->size) {
        if ((st = replay_block(g, off, &len)) != TC_OK)
            return st;
        off += 8 + (size_t)len;
    }
    if (st != TC_OK)
        return st;
    if (!len)
        return tc_fail(TC_ERR_VALUE, "truncated replay log: the file ends at byte offset %zu without its end "
                       "record (was record_stop called?)", g->size);
    return last_block(g, len); /* replay_block left the last block in g->data */
}

void replay_vfree(vstate *v)
{
    replay_table_free(v->hobj, v->hcap, sizeof *v->hobj);
    replay_table_free(v->objs, v->ocap, sizeof *v->objs);
    replay_table_free(v->fr, v->fcap, sizeof *v->fr);
    replay_table_free(v->weaks.live, v->weaks.cap, 1);
    *v = (vstate){0};
}

/* replay_open — see replay.h. */
tc_status replay_open(const char *path, rlog *g)
{
    struct stat sb;
    *g = (rlog){.fd = open(path, O_RDONLY | O_CLOEXEC), .path = path};
    if (g->fd < 0)
        return tc_fail(TC_ERR_IO, "cannot open the replay log \"%s\": %s", path, strerror(errno));
    if (fstat(g->fd, &sb) != 0) {
        tc_status st = read_error(g);
        replay_close(g);
        return st;
    }
    g->size = sb.st_size > 0 ? (size_t)sb.st_size : 0;
    if (!(g->data = plat_malloc(8 + REC_BLOCK + REC_OP_MAX))) {
        replay_close(g);
        return tc_fail(TC_ERR_NOMEM, "out of memory reading the replay log \"%s\"", path);
    }
    return TC_OK;
}

void replay_close(rlog *g)
{
    if (g->fd >= 0)
        close(g->fd);
    free(g->data);
    g->fd = -1;
    g->data = NULL;
}
