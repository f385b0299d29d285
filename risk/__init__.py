"""Risk index (指数评价) of carriers, vehicles and drivers, and the monthly report.

``index``: the pure computation; ``records``: the adapters that fetch a month's records;
``figures``: the report's numbers (the same for the API and the PDF); ``pdf``: the PDF.
"""
