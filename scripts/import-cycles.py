#!/usr/bin/env python3
"""Fails (exit 1) when the files of a Rust crate import each other in a cycle, and names it.

Usage: import-cycles.py SRC_DIR [--edges] [--no-facade]

File-level import graph of a Rust crate (comments and doc links excluded).

Edges come from `use` items and inline paths starting with crate::, super:: or self::, resolved
to the file that defines the item (following `pub use` re-exports), and from bare paths into a
child module the file declares (`walk::run()`). Inline `mod x { .. }` blocks
(tests) are tracked so that `super::` inside them means the file itself. With --no-facade, a
module's `pub use` of its own descendants (its public surface) is not counted as an edge."""
import bisect, os, re, sys
from collections import defaultdict

def module_files(src):
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith('.rs'):
                rel = os.path.relpath(os.path.join(root, n), src)
                parts = rel[:-3].split('/')
                if parts[-1] in ('mod', 'lib', 'main'):
                    parts = parts[:-1]
                files[tuple(parts)] = rel
    return files

def code_lines(text):
    for line in text.split('\n'):
        if line.strip().startswith('//'):
            yield ''
            continue
        line = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
        i = line.find('//')
        if i >= 0:
            line = line[:i]
        yield line

def find_close(s, i):
    d = 0
    for j in range(i, len(s)):
        if s[j] == '{': d += 1
        elif s[j] == '}':
            d -= 1
            if d == 0: return j
    return len(s)

def split_top(s):
    parts, d, cur = [], 0, ''
    for ch in s:
        if ch == '{': d += 1
        if ch == '}': d -= 1
        if ch == ',' and d == 0:
            parts.append(cur); cur = ''
        else:
            cur += ch
    if cur: parts.append(cur)
    return [p for p in parts if p]

def expand(body):
    out = []
    def rec(prefix, s):
        i = s.find('{')
        if i < 0:
            for part in split_top(s): out.append(prefix + part)
            return
        head, inner = s[:i], s[i + 1:find_close(s, i)]
        for part in split_top(inner): rec(prefix + head, part)
    body = re.sub(r'\s+as\s+\w+', '', body)
    rec('', re.sub(r'\s+', '', body))
    return out

def scan(src, files):
    found = {}
    for mod, rel in files.items():
        lines = list(code_lines(open(os.path.join(src, rel)).read()))
        scopes, stack, depth = [], [], 0
        for line in lines:
            m = re.match(r'\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*\{', line)
            if m:
                stack.append((m.group(1), depth))
            scopes.append(mod + tuple(n for n, _ in stack))
            depth += line.count('{') - line.count('}')
            while stack and depth <= stack[-1][1]:
                stack.pop()
        text = '\n'.join(lines)
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line) + 1)
        scope_at = lambda off: scopes[bisect.bisect_right(starts, off) - 1]
        items = []
        for um in re.finditer(r'\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);', text):
            for p in expand(um.group(2)):
                items.append((scope_at(um.start()), p, bool(um.group(1))))
        rest = re.sub(r'\buse\s+[^;]+;', lambda m: ' ' * len(m.group(0)), text)
        for pm in re.finditer(r'(?<![\w:])((?:crate|super|self)(?:::\w+)+)', rest):
            items.append((scope_at(pm.start()), pm.group(1), False))
        # A bare path into a child module this file declares (`walk::run()`) is an edge too.
        children = set(re.findall(r'^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;', text, re.M))
        for pm in re.finditer(r'(?<![\w:])(\w+)((?:::\w+)+)', rest):
            if pm.group(1) in children:
                items.append((scope_at(pm.start()), 'self::' + pm.group(1) + pm.group(2), False))
        found[mod] = items
    return found

def resolve_base(scope, segs):
    if segs[0] == 'crate':
        return (), segs[1:]
    if segs[0] == 'self':
        return scope, segs[1:]
    base = scope
    while segs and segs[0] == 'super':
        base = base[:-1]; segs = segs[1:]
    return base, segs

def main(src, no_facade):
    files = module_files(src)
    items = scan(src, files)
    reexp = defaultdict(dict)
    for mod, lst in items.items():
        for scope, p, is_pub in lst:
            if is_pub and scope == mod:
                reexp[mod][p.split('::')[-1]] = p
    def locate(scope, path, seen=0):
        segs = path.replace('::*', '').split('::')
        if segs[0] not in ('crate', 'self', 'super'):
            return None
        base, rest = resolve_base(scope, segs)
        while rest and base + (rest[0],) in files:
            base = base + (rest[0],); rest = rest[1:]
        if rest and rest[0] in reexp.get(base, {}) and seen < 10:
            target = reexp[base][rest[0]]
            if target.split('::')[0] in ('crate', 'self', 'super'):
                return locate(base, target, seen + 1)
        return base
    edges = defaultdict(set)
    for mod, lst in items.items():
        for scope, p, is_pub in lst:
            t = locate(scope, p)
            if t is None or t == mod or t not in files:
                continue
            if no_facade and is_pub and t[:len(mod)] == mod:
                continue
            edges[files[mod]].add(files[t])
    return files, edges

def cycles(edges):
    index, low, on, st, out, n = {}, {}, set(), [], [], [0]
    nodes = set(edges) | {b for v in edges.values() for b in v}
    def sc(v):
        index[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                sc(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index: sc(v)
    return out

if __name__ == '__main__':
    files, edges = main(sys.argv[1], '--no-facade' in sys.argv)
    if '--edges' in sys.argv:
        for a in sorted(edges):
            print(a, '->', ', '.join(sorted(edges[a])))
    found = cycles(edges)
    for c in found:
        print('CYCLE:', ' <-> '.join(c))
    sys.exit(1 if found else 0)
