"""C source for one model: straight-line trees for scores, and exact TreeSHAP on flat arrays.

Scores: rows go through the model in blocks of BLOCK, copied column by column (feature-major)
so that one feature of the block's rows lies contiguous. Each tree is straight-line code
without branches: every split's test is computed for every row of the block, then the leaf is
chosen by a cascade of selects from the leaves up (`t = c ? left : right`). With no branch to
mispredict, the compiler vectorises the loop over the block's rows (AVX2/AVX-512 blends and
compares where the machine has them): measured 3-4x faster than the same trees as nested `if`s
on 2 cores. Each row's sum is taken tree by tree in LightGBM's order, so the result is the same
double, bit for bit.

Reasons: path-dependent TreeSHAP, written per leaf. For a leaf reached through d distinct
features with cover fractions z_k, a row's contribution depends only on which of those d
conditions the row meets (its "hot" set H). Cold features all receive -v * prod(z over
cold) * sum_s w(s, d) e_{|H|-s}(z over H); a hot feature j receives v (1 - z_j) prod(z over
cold) sum_s w(s, d) e_{|H|-1-s}(z over H without j), where e are elementary symmetric
polynomials and w(s, d) = s! (d-s-1)! / d!. For shallow leaves these values are tabulated
for all 2^d patterns when the library loads (the idea of FastTreeSHAP v2); deeper leaves are
computed on the spot in O(d h), which beats a look-up that misses the cache.
"""

from __future__ import annotations

import numpy as np

from riskengine.compiled._forest import CATEGORICAL, NUM_NAN, NUM_NONE, NUM_ZERO, Forest

# the library's calling convention; raised whenever an entry point's arguments change, so that a
# library compiled by an older riskengine is not called with new arguments (it falls back instead)
ABI = 2
KZ = "1.0000000180025095e-35"  # LightGBM's kZeroThreshold (1e-35f): smaller magnitudes read as 0

HEADER = r"""
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#define KZ 1.0000000180025095e-35
#define BLOCK 64
static inline double z0(double v) { return fabs(v) <= KZ ? 0.0 : v; }
/* the same test as inset() without a branch (NaN, v <= -1 and codes past the bitset: 0);
   (int) truncates toward zero as in LightGBM, so -1 < v < 0 reads as code 0 */
static inline int inset_bf(double v, const uint32_t* bits, int nw) {
    int ok = (v > -1.0) & (v < 32.0 * nw);
    int iv = ok ? (int)v : 0;
    return ok & (int)((bits[iv >> 5] >> (iv & 31)) & 1u);
}
static inline int inset(double v, const uint32_t* bits, int nw) {
    if (isnan(v)) return 0;
    int iv = (int)v;
    if (iv < 0 || (iv >> 5) >= nw) return 0;
    return (bits[iv >> 5] >> (iv & 31)) & 1;
}
"""

SHAP = r"""
#define DMAX 12
static double* TABLE = 0;
static int64_t* TABLE_AT = 0;
static double WEIGHT[130][130];

static inline int goes_left(const double* x, int node) {
    double v = x[FEATURE[node]];
    int k = KIND[node];
    if (k == 3) return inset(v, BITSETS + CAT_START[node], CAT_WORDS[node]);
    if (k == 2) { if (isnan(v)) return DEFAULT_LEFT[node]; return z0(v) <= THRESHOLD[node]; }
    if (k == 1) { if (isnan(v) || fabs(v) <= KZ) return DEFAULT_LEFT[node]; return v <= THRESHOLD[node]; }
    if (isnan(v)) v = 0.0;
    return z0(v) <= THRESHOLD[node];
}

/* contributions of one leaf (value v, d path features with fractions z) for a row whose
   hot flags are hot[0..d-1]; written to out[0..d-1] */
static void leaf_values(int d, const double* z, const char* hot, double v, double* out) {
    double e[130], f[130], zc = 1.0;
    int h = 0;
    e[0] = 1.0;
    for (int k = 0; k < d; k++) {
        if (hot[k]) {
            h++;
            e[h] = 0.0;
            for (int m = h; m >= 1; m--) e[m] += z[k] * e[m - 1];
        } else {
            zc *= z[k];
        }
    }
    const double* w = WEIGHT[d];
    double cold = 0.0;
    if (h < d) {
        for (int s = 0; s <= h; s++) cold += w[s] * e[h - s];
        cold = -v * zc * cold;
    }
    for (int j = 0; j < d; j++) {
        if (!hot[j]) { out[j] = cold; continue; }
        f[0] = 1.0;
        for (int m = 1; m < h; m++) f[m] = e[m] - z[j] * f[m - 1];
        double acc = 0.0;
        for (int s = 0; s <= h - 1; s++) acc += w[s] * f[h - 1 - s];
        out[j] = v * (1.0 - z[j]) * zc * acc;
    }
}

int re_shap_init(int64_t budget_doubles, int dmax) {
    if (TABLE_AT) return 0;
    for (int d = 1; d < 130; d++) {
        /* w(s, d) = s! (d-s-1)! / d! = 1 / (d * C(d-1, s)) */
        double c = 1.0;
        for (int s = 0; s < d; s++) {
            WEIGHT[d][s] = 1.0 / (d * c);
            c = c * (d - 1 - s) / (s + 1);
        }
    }
    int64_t* at = (int64_t*)malloc(sizeof(int64_t) * (N_LEAVES + 1));
    if (!at) return 1;
    int64_t total = 0;
    for (int l = 0; l < N_LEAVES; l++) {
        int d = PATH_START[l + 1] - PATH_START[l];
        int64_t need = ((int64_t)1 << (d < 62 ? d : 62)) * d;
        if (d <= dmax && d <= DMAX && total + need <= budget_doubles) { at[l] = total; total += need; }
        else at[l] = -1;
    }
    double* table = (double*)malloc(sizeof(double) * (total > 0 ? total : 1));
    if (!table) { free(at); return 1; }
    for (int l = 0; l < N_LEAVES; l++) {
        if (at[l] < 0) continue;
        int d = PATH_START[l + 1] - PATH_START[l];
        const double* z = PATH_Z + PATH_START[l];
        char hot[DMAX + 1];
        for (int p = 0; p < (1 << d); p++) {
            for (int k = 0; k < d; k++) hot[k] = (p >> k) & 1;
            leaf_values(d, z, hot, LEAF_VALUE[l], table + at[l] + (int64_t)p * d);
        }
    }
    TABLE = table;
    TABLE_AT = at;
    return 0;
}

/* out: n rows x (N_FEATURES + 1), zeroed by the caller; the last column is the base value.
   Rows go in blocks of RB, tree by tree: the block's decisions at every node of the tree, then
   leaf by leaf each row's pattern (which of the leaf's conditions it meets). Rows of a block that
   share a leaf's pattern share its values, so a leaf without a table computes them once per
   distinct pattern in the block (a stamp per pattern says whether this leaf has met it yet) and
   adds them to every such row. Each row still receives the same values in the same order (tree,
   leaf, feature) as one row at a time, so the result is the same bit for bit. */
#define RB 64
#define PMAX 12
void re_shap(const double* X, int64_t n, int64_t stride, double* out, int nthreads) {
    int64_t nblocks = (n + RB - 1) / RB;
    #pragma omp parallel num_threads(nthreads)
    {
        char* dec = (char*)malloc((size_t)(MAX_NODES + 1) * RB);
        int64_t* seen = (int64_t*)calloc((size_t)1 << PMAX, sizeof(int64_t));
        int16_t* where = (int16_t*)malloc(sizeof(int16_t) * ((size_t)1 << PMAX));
        double* memo = (double*)malloc(sizeof(double) * RB * (PMAX + 1));
        int64_t pat[RB];
        int64_t epoch = 0;
        char hot[130];
        double vals[130];
        #pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nblocks; b++) {
            int64_t lo = b * RB;
            int m = (int)(n - lo < RB ? n - lo : RB);
            for (int t = 0; t < N_TREES; t++) {
                int n0 = NODE_START[t], nn = NODE_START[t + 1] - n0;
                for (int r = 0; r < m; r++) {
                    const double* x = X + (lo + r) * stride;
                    for (int i = 0; i < nn; i++) dec[i * RB + r] = (char)goes_left(x, n0 + i);
                }
                for (int l = LEAF_START[t]; l < LEAF_START[t + 1]; l++) {
                    int p0 = PATH_START[l], d = PATH_START[l + 1] - p0;
                    if (d == 0) continue;
                    int e0 = EDGE_START[l], e1 = EDGE_START[l + 1];
                    const int32_t* pf = PATH_FEATURE + p0;
                    if (d > PMAX) {  /* rare: every row on its own */
                        for (int r = 0; r < m; r++) {
                            double* phi = out + (lo + r) * (int64_t)(N_FEATURES + 1);
                            for (int k = 0; k < d; k++) hot[k] = 1;
                            for (int e = e0; e < e1; e++)
                                if (dec[EDGE_NODE[e] * RB + r] != EDGE_LEFT[e]) hot[EDGE_SLOT[e]] = 0;
                            leaf_values(d, PATH_Z + p0, hot, LEAF_VALUE[l], vals);
                            for (int j = 0; j < d; j++) phi[pf[j]] += vals[j];
                        }
                        continue;
                    }
                    int64_t full = ((int64_t)1 << d) - 1;
                    for (int r = 0; r < m; r++) pat[r] = full;
                    for (int e = e0; e < e1; e++) {
                        const char* de = dec + EDGE_NODE[e] * RB;
                        char want = EDGE_LEFT[e];
                        int64_t clear = ~((int64_t)1 << EDGE_SLOT[e]);
                        for (int r = 0; r < m; r++) pat[r] &= de[r] != want ? clear : ~(int64_t)0;
                    }
                    if (TABLE_AT[l] >= 0) {
                        const double* table = TABLE + TABLE_AT[l];
                        for (int r = 0; r < m; r++) {
                            double* phi = out + (lo + r) * (int64_t)(N_FEATURES + 1);
                            const double* row = table + pat[r] * d;
                            for (int j = 0; j < d; j++) phi[pf[j]] += row[j];
                        }
                        continue;
                    }
                    epoch++;
                    int distinct = 0;
                    for (int r = 0; r < m; r++) {
                        int64_t p = pat[r];
                        if (seen[p] != epoch) {
                            seen[p] = epoch;
                            where[p] = (int16_t)distinct;
                            for (int k = 0; k < d; k++) hot[k] = (p >> k) & 1;
                            leaf_values(d, PATH_Z + p0, hot, LEAF_VALUE[l], memo + distinct * d);
                            distinct++;
                        }
                        const double* row = memo + where[p] * d;
                        double* phi = out + (lo + r) * (int64_t)(N_FEATURES + 1);
                        for (int j = 0; j < d; j++) phi[pf[j]] += row[j];
                    }
                }
            }
            for (int r = 0; r < m; r++) out[(lo + r) * (int64_t)(N_FEATURES + 1) + N_FEATURES] += EXPECTED_VALUE;
        }
        free(dec);
        free(seen);
        free(where);
        free(memo);
    }
}
"""

PREDICT = r"""
/* X: n rows, element (r, j) at X[r * rs + j * cs]: row-major (rs = features, cs = 1) or column-major */
void re_predict(const double* X, int64_t n, int64_t rs, int64_t cs, double* out, int nthreads) {
    int64_t nblocks = (n + BLOCK - 1) / BLOCK;
    #pragma omp parallel num_threads(nthreads)
    {
        double* xt = (double*)malloc(sizeof(double) * N_FEATURES * BLOCK);
        #pragma omp for schedule(static)
        for (int64_t b = 0; b < nblocks; b++) {
            int64_t lo = b * BLOCK;
            int m = (int)(n - lo < BLOCK ? n - lo : BLOCK);
            double acc[BLOCK];
            const double* x = X + lo * rs;
            for (int r = 0; r < BLOCK; r++) acc[r] = 0.0;
            if (cs == 1) {
                for (int r = 0; r < m; r++)
                    for (int j = 0; j < N_FEATURES; j++) xt[j * BLOCK + r] = x[r * rs + j];
            } else {
                for (int j = 0; j < N_FEATURES; j++)
                    for (int r = 0; r < m; r++) xt[j * BLOCK + r] = x[r * rs + j * cs];
            }
            for (int r = m; r < BLOCK; r++)
                for (int j = 0; j < N_FEATURES; j++) xt[j * BLOCK + r] = 0.0;
            TREES
            for (int r = 0; r < m; r++) out[lo + r] = acc[r];
        }
        free(xt);
    }
}
int re_n_features(void) { return N_FEATURES; }
"""


def _num(x: float) -> str:
    """A double as an exact C literal (hexadecimal floating point)."""
    if np.isnan(x):
        return "NAN"
    if np.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    return float(x).hex()


def _array(name: str, ctype: str, values: np.ndarray) -> str:
    values = np.asarray(values)
    if len(values) == 0:
        values = np.zeros(1, dtype=values.dtype)
    if ctype == "double":
        body = ",".join(_num(v) for v in values)
    else:
        suffix = "u" if ctype == "uint32_t" else ""
        body = ",".join(f"{int(v)}{suffix}" for v in values)
    return f"static const {ctype} {name}[{len(values)}] = {{{body}}};\n"


def _condition(f: Forest, node: int, v: str) -> str:
    """C expression without a branch: does the value `v` go left at this node? LightGBM's rules."""
    feat, kind, thr = int(f.feature[node]), int(f.kind[node]), float(f.threshold[node])
    dl = int(f.default_left[node])
    if kind == CATEGORICAL:  # NaN, negative and unseen codes go right
        return f"inset_bf({v}, BITSETS + {int(f.cat_start[node])}, {int(f.cat_words[node])})"
    t = _num(thr)
    tiny = abs(thr) <= 2e-35  # a threshold at zero: magnitudes under kZeroThreshold count as 0
    le = f"(z0({v}) <= {t})" if tiny else f"({v} <= {t})"  # NaN: false, so right
    not_gt = f"!(z0({v}) > {t})" if tiny else f"!({v} > {t})"  # NaN: true, so left
    if kind == NUM_NAN:  # NaN takes the default side
        return not_gt if dl else le
    if kind == NUM_ZERO:  # NaN and (near) zero take the default side
        return f"((fabs({v}) <= KZ) | {not_gt})" if dl else f"((fabs({v}) > KZ) & {le})"
    assert kind == NUM_NONE  # NaN reads as 0: left when 0 <= threshold
    return not_gt if 0.0 <= thr else le


def _tree_code(f: Forest, t: int) -> str:
    """One tree over a feature-major block: every split's test, then selects from the leaves up."""
    n0, n1 = int(f.node_start[t]), int(f.node_start[t + 1])
    lines = [f"static inline void tree_{t}(const double* restrict xt, double* restrict acc) {{",
             "    for (int r = 0; r < BLOCK; r++) {"]
    for node in range(n0, n1):
        lines.append(f"        const int c{node - n0} = {_condition(f, node, f'xt[{int(f.feature[node])} * BLOCK + r]')};")

    def pick(ref: int) -> str:
        if ref < 0:
            return _num(f.leaf_value[~ref])
        left, right = pick(int(f.left[ref])), pick(int(f.right[ref]))
        lines.append(f"        const double t{ref - n0} = c{ref - n0} ? {left} : {right};")
        return f"t{ref - n0}"

    root = pick(int(f.tree_root[t]))
    lines += [f"        acc[r] += {root};", "    }", "}"]
    return "\n".join(lines) + "\n"


def c_source(f: Forest) -> str:
    """The whole library's C source for one model."""
    parts = [f"/* riskengine compiled trees for model sha256 {f.model_hash} */\n", HEADER,
             f"#define N_FEATURES {f.n_features}\n#define N_TREES {f.n_trees}\n",
             f"#define N_LEAVES {len(f.leaf_value)}\n#define MAX_NODES {max(f.max_nodes, 1)}\n",
             f"static const double EXPECTED_VALUE = {_num(f.expected_value)};\n",
             f"const char RE_MODEL_HASH[] = \"{f.model_hash}\";\nconst int RE_ABI = {ABI};\n"]
    for name, ctype, values in (
            ("FEATURE", "int32_t", f.feature), ("THRESHOLD", "double", f.threshold), ("KIND", "int8_t", f.kind),
            ("DEFAULT_LEFT", "int8_t", f.default_left), ("CAT_START", "int32_t", f.cat_start),
            ("CAT_WORDS", "int32_t", f.cat_words), ("BITSETS", "uint32_t", f.bitsets),
            ("NODE_START", "int32_t", f.node_start), ("LEAF_START", "int32_t", f.leaf_start),
            ("LEAF_VALUE", "double", f.leaf_value), ("PATH_START", "int32_t", f.path_feat_start),
            ("PATH_FEATURE", "int32_t", f.path_feature), ("PATH_Z", "double", f.path_z),
            ("EDGE_START", "int32_t", f.edge_start), ("EDGE_NODE", "int32_t", f.edge_node),
            ("EDGE_LEFT", "int8_t", f.edge_left), ("EDGE_SLOT", "int16_t", f.edge_slot)):
        parts.append(_array(name, ctype, values))
    parts.append(SHAP)
    # the trees at -O3 (vectorised over the block's rows); TreeSHAP above stays at the command
    # line's -O2, where it runs 15-25% faster than at -O3 (measured on a 300 x 31 model)
    parts.append("#pragma GCC push_options\n#pragma GCC optimize (\"O3\")\n")
    parts += [_tree_code(f, t) for t in range(f.n_trees)]
    parts.append(PREDICT.replace("TREES", "\n            ".join(f"tree_{t}(xt, acc);" for t in range(f.n_trees))))
    parts.append("#pragma GCC pop_options\n")
    return "".join(parts)
