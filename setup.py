"""Buildout recipes of the re6st registry software release."""
from setuptools import setup

setup(
    name='slapos-re6st',
    version='1.0',
    description='Buildout recipes of the re6st registry SlapOS software release',
    packages=['slapos_re6st'],
    python_requires='>=3.9',
    install_requires=[
        'cryptography',
        'jsonschema',
        're6stnet',  # re6st.version: the protocols min-protocol may name
        'setuptools',
        'slapos.core',  # slapos.slap, to read the partition from the master
        'zc.buildout',
    ],
    entry_points={
        'zc.buildout': [
            'slap-configuration = slapos_re6st.slapconfiguration:Recipe',
            'software-type = slapos_re6st.softwaretype:Recipe',
            'optional-parts = slapos_re6st.softwaretype:Optional',
            'parameters = slapos_re6st.parameters:Recipe',
            'ca = slapos_re6st.ca:Recipe',
            'registry-config = slapos_re6st.registry:Recipe',
            'promise = slapos_re6st.promise:Recipe',
            'token-manager = slapos_re6st.tokens:Recipe',
            'backup = slapos_re6st.backup:Recipe',
            'backup-promise = slapos_re6st.promise:Backup',
            'ca-lifetime-promise = slapos_re6st.promise:CaLifetime',
            'compact-installed = slapos_re6st.installed:Recipe',
        ],
        'console_scripts': [
            're6st-token-manager = slapos_re6st.tokens:main',
            're6st-renew-ca = slapos_re6st.renew:main',
            're6st-service = slapos_re6st.service:main',
            're6st-backup = slapos_re6st.backup:main',
            're6st-restore = slapos_re6st.restore:main',
        ],
    },
)
