S¾w¶:mû"UE?#]@M®p1^þe$KŽ,	òaÐv›~ö:Ü¶Þõ
àAü+ÌÚ Iõ	qBÕHNÖi95³v