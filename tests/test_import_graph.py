"""The package's import graph has no cycle (every import statement, module level or inside a
function, read with ``ast``)."""
import ast
import os
import os.path as osp

from conftest import ROOT

PKG = 'mmseg_ccam'


def modules():
    out = {}
    for dirpath, _, files in os.walk(osp.join(ROOT, PKG)):
        for f in files:
            if f.endswith('.py'):
                path = osp.join(dirpath, f)
                name = osp.relpath(path, ROOT)[:-3].replace(os.sep, '.')
                out[name[:-len('.__init__')] if name.endswith('.__init__') else name] = path
    return out


def import_graph(mods):
    edges = {m: set() for m in mods}
    for name, path in mods.items():
        is_pkg = path.endswith('__init__.py')
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = name.split('.') if is_pkg else name.split('.')[:-1]
                if node.level:
                    base = base[:len(base) - node.level + 1]
                    mod = '.'.join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module
                targets = [f'{mod}.{a.name}' if f'{mod}.{a.name}' in mods else mod
                           for a in node.names]
            for t in targets:
                while t not in mods and '.' in t:
                    t = t.rsplit('.', 1)[0]
                if t in mods and t != name:
                    edges[name].add(t)
    return edges


def find_cycle(edges):
    """One cycle as a list of modules, or None (iterative DFS with colours)."""
    state = {}
    for start in sorted(edges):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(edges[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(edges[child]))))
                path.append(child)
    return None


def test_find_cycle_on_a_hand_made_graph():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': set()}) is None
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']


def test_package_has_no_import_cycle():
    mods = modules()
    edges = import_graph(mods)
    # the graph is real: the loaders import the geometry module, nothing imports back
    assert 'mmseg_ccam.datasets.cityscapes_geometry' in \
        edges['mmseg_ccam.datasets.transforms.loading']
    assert find_cycle(edges) is None

