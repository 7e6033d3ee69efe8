"""Salesforce connector for crmpulse."""
