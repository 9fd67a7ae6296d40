"""Promise plugins run as slapos node runs them."""
from harness import TOP
from harness.promises import run_plugin  # noqa: F401 (the units' too)


def plugin_text(module, **config):
    """A plugin of the release's promise module `module` (like
    'registry'), as slapos.cookbook's promise.plugin recipe writes it: the
    paths it needs first (this checkout: the tests' environment has
    slapos.core), its configuration, the module's RunPromise.  (The unit
    tests' stand-in for that recipe, which the SlapOS suites run for
    real.)"""
    return ('import sys\nsys.path[0:0] = %r\n\nextra_config_dict = %r\n\n'
            'from slapos_re6st.promise.%s import RunPromise\n'
            % ([TOP], config, module))
