"""The online CA: ``Authority`` (sign, renew, rekey, revoke, CRL) behind the
``AuthorityInterface`` protocol of ``interfaces``.

Import the concrete class from ``appliance.authority.authority``; protocol
cores and the API depend on ``appliance.authority.interfaces`` only.
"""
