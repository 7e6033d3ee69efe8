"""Local emulator pieces for the Salesforce REST API (SOQL engine)."""
