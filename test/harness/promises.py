"""Promise plugins run as slapos node runs them."""
import os
import shutil
import subprocess
import sys
import tempfile


def run_plugin(plugin_text, name, *prefix, python=None, directory=None):
    """Run one plugin the way slapos node does: slapos.core's runpromises,
    in a process of its own (by `python`, default this one), with a
    promise folder (in `directory`) holding that plugin only, so that its
    results never reach a partition's.  (exit code, its output)."""
    import slapos.grid.promise
    folder = tempfile.mkdtemp(dir=directory)
    try:
        plugins = os.path.join(folder, 'etc', 'plugin')
        os.makedirs(plugins)
        with open(os.path.join(plugins, name), 'w') as f:
            f.write(plugin_text)
        result = subprocess.run(list(prefix) + [
            python or sys.executable, os.path.join(
                os.path.dirname(slapos.grid.promise.__file__),
                'runpromises.py'),
            '--promise-folder', plugins,
            '--legacy-promise-folder', os.path.join(folder, 'etc', 'promise'),
            '--partition-folder', folder,
            '--log-folder', os.path.join(folder, 'log'), '--force'],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(folder)
    return result.returncode, result.stdout + result.stderr
