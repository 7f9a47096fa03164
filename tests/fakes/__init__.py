"""Local fakes of the vendors' APIs (HubSpot, Mailchimp) on 127.0.0.1, for connector tests."""
