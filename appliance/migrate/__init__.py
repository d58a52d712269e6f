"""Imports of another CA's stored data into the appliance's database (``appliance migrate``)."""
