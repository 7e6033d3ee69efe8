"""crmpulse: customer-relationship KPIs from your CRM, written back into your CRM."""

__version__ = "0.1.0"
