from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_engine')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='User',
            name='totp_secret',
            field=fields.CharField(default='', max_length=255),
        ),
        ops.AddField(
            model_name='User',
            name='security_stamp',
            field=fields.CharField(default='', max_length=32),
        ),
    ]
