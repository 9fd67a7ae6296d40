"""The re6st registry software release's own egg: recipes, services,
commands and checks (see slapos_re6st/__init__.py)."""
from setuptools import find_packages, setup

setup(
    name='slapos_re6st',
    version='1.0',
    description='Recipes, services and commands of the re6st registry'
                ' SlapOS software release',
    packages=find_packages(include=['slapos_re6st', 'slapos_re6st.*']),
    python_requires='>=3.9',
    install_requires=[
        'cryptography',
        'geoip2',  # a geoip2-mmdb is checked the way the registry reads it
        'jsonschema',
        're6stnet',  # re6st.version, re6st's client and parsers
        'setuptools',
        'slapos.core',  # slapos.slap, to read the partition from the master
        'zc.buildout',  # the recipes only
    ],
    entry_points={
        'zc.buildout': [
            'slap-configuration = slapos_re6st.recipe.slapconfiguration:Recipe',
            'software-type = slapos_re6st.recipe.softwaretype:Recipe',
            'optional-parts = slapos_re6st.recipe.softwaretype:Optional',
            'parameters = slapos_re6st.recipe.parameters:Recipe',
            'adoption = slapos_re6st.recipe.adoption:Recipe',
            'ca = slapos_re6st.recipe.ca:Recipe',
            'admin-secret = slapos_re6st.recipe.admin:Recipe',
            'registry-config = slapos_re6st.recipe.registry:Recipe',
            'token-manager = slapos_re6st.recipe.tokens:Recipe',
            'forward-config = slapos_re6st.recipe.forward:Recipe',
            'host-node = slapos_re6st.recipe.host_node:Recipe',
            'backup = slapos_re6st.recipe.backup:Recipe',
            'compact-installed = slapos_re6st.recipe.installed:Recipe',
        ],
        'console_scripts': [
            're6st-token-manager = slapos_re6st.cli.token_manager:main',
            're6st-renew-ca = slapos_re6st.cli.renew_ca:main',
            're6st-service = slapos_re6st.cli.service:main',
            're6st-registry-service = slapos_re6st.cli.registry:main',
            're6st-registry-admin = slapos_re6st.cli.admin:main',
            're6st-backup = slapos_re6st.cli.backup:main',
            're6st-restore = slapos_re6st.cli.restore:main',
        ],
    },
)
