"""What leaves the app: CSV exports made safe for spreadsheets, and charts."""
